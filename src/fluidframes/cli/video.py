"""Video subcommands: ``interpolate`` (one file, or a batch) and ``demo``.

The flags come from :mod:`fluidframes.options`; this module only reads them back, calls the
pipeline or the batch runner, and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from ..options import ModelConfig, RunOptions, VideoOptions, add_arguments


def _progress_bar(quiet: bool):
    """A tqdm bar on stderr fed by Progress events (nothing when quiet).

    The bar is created on the first event, so a run that fails during set-up prints only its
    one-line error.
    """
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    state: dict = {}

    def update(p) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=p.frames_total, unit="frame", file=sys.stderr,
                                      dynamic_ncols=True, leave=False)
        if p.frames_total and bar.total != p.frames_total:
            bar.total = p.frames_total
        bar.update(p.frames_out - bar.n)
        bar.set_postfix_str(f"{p.fps:.2f} fps out")

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def _print_summary(summary, args: argparse.Namespace) -> int:
    """Print the result; returns the exit code. A failed A/V check is loud in every mode
    (even --quiet and --json) and fails the run: our output does not keep our promise."""
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    elif not args.quiet:
        print(summary.line())
        for w in summary.warnings:
            print(f"warning: {w}", file=sys.stderr)
    _partial_warnings(summary, args)
    if summary.in_sync is False:
        print(f"fluidframes: error: {summary.output}: audio and video are out of sync by "
              f"{summary.av_sync_error * 1000:+.1f} ms (more than one frame)", file=sys.stderr)
        return 1
    return 0


def _partial_warnings(summary, args: argparse.Namespace, always: bool = False) -> None:
    """Damage kept with --allow-partial is never silent: its warnings are printed even with
    --quiet and --json (which print no other warnings), and for each file of a batch."""
    if always or args.quiet or args.json:
        for w in summary.warnings:
            if w.startswith("partial input"):
                print(f"warning: {summary.input}: {w}", file=sys.stderr)


def run_one(args: argparse.Namespace, src: str, dst: str | None, options: RunOptions) -> int:
    from ..pipeline import run
    from .interrupts import interrupt_event

    update, close = _progress_bar(args.quiet or args.json)
    try:
        summary = run(src, dst, options, progress=update, cancel=interrupt_event())
    finally:
        close()
    return _print_summary(summary, args)


def run_batch(args: argparse.Namespace, inputs: list[Path], options: RunOptions) -> int:
    """Several inputs: one output each, a line per file, non-zero exit if any failed."""
    from ..batch import plan_outputs
    from ..batch import run_batch as run_all
    from ..errors import CancelledError
    from .interrupts import interrupt_event

    out_dir = None
    if args.output:
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"with several inputs, -o must be a folder ({out_dir} is a file)")
        out_dir.mkdir(parents=True, exist_ok=True)
    items = plan_outputs(inputs, out_dir, options)
    update, close = _progress_bar(args.quiet or args.json)
    try:
        run_all(items, options, progress=update, cancel=interrupt_event())
    except KeyboardInterrupt:
        pass
    finally:
        close()
    failed = [it for it in items if not it.ok]
    for it in items:
        if it.ok:
            _partial_warnings(it.summary, args, always=True)
    if args.json:
        print(json.dumps([it.to_dict() for it in items], indent=2, default=str))
    else:
        for it in items:
            if it.ok:
                if not args.quiet:
                    print(it.summary.line())
            else:
                print(f"fluidframes: {it.input}: FAILED: {it.to_dict()['error']}",
                      file=sys.stderr)
        if not args.quiet or failed:
            print(f"batch: {len(items) - len(failed)} of {len(items)} file(s) done"
                  + (f", {len(failed)} failed" if failed else ""), file=sys.stderr)
    if not failed:
        return 0
    if any(isinstance(it.error, CancelledError) for it in failed):
        return 130
    return max(getattr(it.error, "exit_code", 1) if it.error else 1 for it in failed)


#: The research scripts' (inference_video.py) switches, as accepted spellings of our options:
#: flag -> (option, value, help). ``--exp``, ``--fps``, ``--scale``, ``--png``, ``--montage``
#: and ``--ext`` are options of their own; ``--video``/``--img`` name the input and
#: ``--model train_log/`` a model folder.
ARTICLE_FLAGS = {
    "--UHD": ("scale", "0.5", "for 4K input, as in the research scripts: --scale 0.5"),
    "--fp16": ("precision", "half", "half precision for this device: fp16 on a GPU, bf16 on a "
                                    "CPU that has it (--precision half)"),
}


def _apply_article_flags(args: argparse.Namespace) -> list[str]:
    """Fold the research scripts' spellings into our options; returns the inputs."""
    for flag, (name, value, _) in ARTICLE_FLAGS.items():
        if getattr(args, flag.lstrip("-").lower(), False):
            given = getattr(args, name)
            if given is not None and str(given) != value:
                raise InputError(f"{flag} means --{name} {value}; it disagrees with "
                                 f"--{name} {given}")
            setattr(args, name, value)
    if args.model and not args.model_file and Path(args.model).exists():
        from ..models.registry import ENSEMBLES, MODELS

        if args.model not in MODELS and args.model not in ENSEMBLES:  # --model=train_log/ (a Practical-RIFE model folder)
            args.model_file, args.model = args.model, None
    inputs = list(args.input) + list(args.video or []) + list(args.img or [])
    if not inputs:
        raise InputError("name an input: fluidframes interpolate clip.mp4 (or --video/--img)")
    return inputs


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ..batch import expand_inputs

    raw_inputs = _apply_article_flags(args)
    options = RunOptions.from_namespace(args)
    inputs, batch = expand_inputs(raw_inputs)
    if not batch:
        return run_one(args, str(inputs[0]), args.output, options)
    return run_batch(args, inputs, options)


#: What ``demo`` does: the README's main job on the built-in sample.
DEMO = {"multi": 4, "montage": True, "overwrite": True}
_DEMO_FLAGS = ("codec", "crf", "preset", "pix_fmt")


def cmd_demo(args: argparse.Namespace) -> int:
    from ..samples import DEFAULT_SAMPLE, sample_path

    options = RunOptions(ModelConfig.from_namespace(args), VideoOptions.from_kwargs(
        **DEMO, **{k: getattr(args, k) for k in _DEMO_FLAGS}))
    src = sample_path(DEFAULT_SAMPLE)
    out_dir = Path(args.output_dir) if args.output_dir else Path.cwd() / "demo-output"
    dst = out_dir / f"{DEFAULT_SAMPLE}_4X_montage.mp4"
    if not args.quiet:
        print(f"sample: {src} (Big Buck Bunny, 1280x720, 25 fps, with audio)", file=sys.stderr)
    rc = run_one(args, str(src), str(dst), options)
    if rc == 0:
        print(f"result: {dst}")
    return rc


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    g.add_argument("--json", action="store_true", help="print the run summary as JSON")


def add_commands(sub) -> None:
    p = sub.add_parser("interpolate", help="interpolate a video (or a folder of images)")
    p.add_argument("input", nargs="*",
                   help="video file(s), a folder of numbered images (one clip), or a folder of "
                        "videos (a batch: one output per video)")
    p.add_argument("-o", "--output", help="output file (.mp4 .mkv .mov .webm .gif) or folder; "
                   "with several inputs, the folder for all outputs")
    add_arguments(p, VideoOptions)
    add_arguments(p, ModelConfig)
    _add_output_flags(p)
    g = p.add_argument_group("coming from inference_video.py (same meaning as there)")
    g.add_argument("--video", action="append", metavar="PATH", help="the input video")
    g.add_argument("--img", action="append", metavar="FOLDER", help="a folder of frames")
    for flag, (_, _, help_text) in ARTICLE_FLAGS.items():
        g.add_argument(flag, dest=flag.lstrip("-").lower(), action="store_true", help=help_text)
    p.set_defaults(func=cmd_interpolate, loads_models=True)

    p = sub.add_parser("demo", help="4x montage of the built-in sample clip")
    p.add_argument("--output-dir", help="where to write the result (default ./demo-output)")
    add_arguments(p, VideoOptions, include=_DEMO_FLAGS)
    add_arguments(p, ModelConfig)
    _add_output_flags(p)
    p.set_defaults(func=cmd_demo, loads_models=True)
