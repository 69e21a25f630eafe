"""``fluidframes bench`` (see :mod:`fluidframes.bench`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..options import ModelConfig, Spec, VideoOptions, add_arguments, coerce

_POSITIVE = Spec("int", "", min=1, max=10_000)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import BenchConfig, format_table, run_bench

    model = ModelConfig.from_namespace(args)
    multi = coerce("multi", VideoOptions.specs()["multi"], args.multi)
    frames, runs = coerce("frames", _POSITIVE, args.frames), coerce("runs", _POSITIVE, args.runs)
    results = []
    for size in args.size:
        cfg = BenchConfig(model=model, size=size, input=args.input, frames=frames, runs=runs,
                          multi=multi, e2e=not args.no_e2e)
        say = (lambda m: print(m, file=sys.stderr)) if not args.quiet else None
        res = run_bench(cfg, progress=say)
        results.append(res)
        if args.json != "-":
            print(format_table(res))
    payload = results[0] if len(results) == 1 else results
    if args.json == "-":
        print(json.dumps(payload, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("bench", help="speed benchmark against the plain fp32 research-script way")
    p.add_argument("--size", nargs="+", default=["720p"],
                   help="frame size(s): 720p, 1080p, 480p, native or WxH (default 720p)")
    p.add_argument("--input", help="video to take frames from (default: the bigbuckbunny sample; "
                   "'synthetic' for generated frames)")
    p.add_argument("--frames", default="6", help="source frames per run (default 6)")
    p.add_argument("--runs", default="3", help="interleaved repetitions (default 3)")
    p.add_argument("--multi", default="2", help="output frames per source frame (default 2)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end video runs")
    p.add_argument("--json", help="write the results as JSON to this file ('-' for stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    add_arguments(p, ModelConfig)
    p.set_defaults(func=cmd_bench, loads_models=True)
