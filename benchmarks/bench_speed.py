"""The issue-6 bench table: rife-4.25 and rife-4.6 at 720p and 1080p, ours vs the plain way.

    .venv/bin/python benchmarks/bench_speed.py [--runs 3] [--frames 4] [--out bench.json]

For each model and size: one end-to-end + inference run of ``fluidframes.bench.run_bench`` with
the default ("auto") settings and, for the inference table, the fp32 and bf16 paths of the fast
backend. Baseline (plain fp32 eager, features recomputed per call) and candidate are interleaved;
the baseline runs in its own worker process on the default C allocator
(``FLUIDFRAMES_MALLOC=system``). Prints a markdown table and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from fluidframes.bench import BenchConfig, format_table, run_bench


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["rife-4.25", "rife-4.6"])
    ap.add_argument("--sizes", nargs="+", default=["720p", "1080p"])
    ap.add_argument("--precisions", nargs="+", default=["auto"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--out", default="bench.json")
    args = ap.parse_args()
    rows, results = [], []
    for model in args.models:
        for size in args.sizes:
            for i, prec in enumerate(args.precisions):
                cfg = BenchConfig(model=model, size=size, frames=args.frames, runs=args.runs,
                                  precision=prec, device="cpu")
                res = run_bench(cfg, progress=lambda m: print(m, file=sys.stderr))
                print(format_table(res), flush=True)
                results.append(res)
                e, st = res.get("end_to_end"), res["stages"]
                rows.append(
                    f"| {model} | {size} | {prec} | {st['inference_plain']['fps']:.2f} | "
                    f"{st['inference_ours']['fps']:.2f} | x{res['inference_ratio']:.2f} | "
                    f"{st['interpolate_ours']['fps']:.2f} | x{res['interpolate_ratio']:.2f} | "
                    f"{e['plain']['fps']:.2f} | {e['ours']['fps']:.2f} | x{e['ratio']:.2f} | "
                    f"{e['plain']['peak_rss_mb']:.0f} / {e['ours']['peak_rss_mb']:.0f} |")
                with open(args.out, "w") as fh:
                    json.dump(results, fh, indent=2)
    print("\n| model | size | ours | infer plain fps | infer ours fps | ratio |"
          " interpolate() fps | ratio | e2e plain fps | e2e ours fps | ratio |"
          " peak RSS MB plain / ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
