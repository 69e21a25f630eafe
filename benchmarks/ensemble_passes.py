"""Which passes make the named ensembles: every subset of candidate passes, scored and costed.

    PYTHONPATH=src .venv/bin/python benchmarks/ensemble_passes.py [--offsets 0.0 0.5]
        [--windows 6] [--max-passes 5] [--threads 1]

The search behind ``ENSEMBLES`` in src/fluidframes/models/registry.py. Candidate passes: rife-4.25
and rife-4.6, each as is, time-reversed (``f(b, a, 1 - t)``), mirrored, upside down, and mirrored
and time-reversed. Every pass runs once per window (the windows of benchmarks/ensemble_quality.py:
t=0.5 triplets and multi-4 windows of the three sample clips, at the *selection* positions given
by ``--offsets``; ensemble_quality.py reports at position 0.25, which this search never sees).
Every subset of up to ``--max-passes`` passes is then scored as the plain mean of its candidates
(what ``Ensemble.combine`` does), rounded to 8 bits, PSNR against the true frame; a cell is one
clip and mode at one offset, and the gain is against rife-4.25 alone in the same cell.

Cost: each member's ``prepare`` (per frame and view: padding, encoder features) and ``run`` at
t=0.5 on 1280x720 frames, interleaved rounds, medians; a subset costs one prepare per distinct
(model, view) and one run per pass (time-reversed passes reuse the prepared frames), as a ratio
to rife-4.25's prepare + run. ensemble_quality.py measures the chosen ensembles end to end.

Prints the best subsets within each cost budget and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from ensemble_quality import CLIPS, MODES, decode, windows  # noqa: E402

from fluidframes.engine import Interpolator  # noqa: E402
from fluidframes.ensemble import Ensemble, _flip_np  # noqa: E402
from fluidframes.models.registry import Pass  # noqa: E402
from fluidframes.options import ModelConfig  # noqa: E402

MODELS = ("rife-4.25", "rife-4.6")
VIEWS = (("", False), ("", True), ("h", False), ("v", False), ("h", True))
BUDGETS = (2.5, 6.0)


def candidate_passes() -> list[Pass]:
    return [Pass(m, flip, rev) for m in MODELS for flip, rev in VIEWS]


def dense_windows(name: str, count: int) -> list[int]:
    """Every t=0.5 triplet of the clip that crosses no cut or duplicate, thinned to every
    ``DENSE_STEP``-th for the 720p clip (time)."""
    good = sorted(set(windows(name, count, 2, 4 * count, 0.0)))
    return good[:: DENSE_STEP.get(name, 1)]


DENSE_STEP = {"bigbuckbunny": 3}


def scores(union: Ensemble, passes: list[Pass], offsets: list[float], count: int,
           max_passes: int, dense: bool = False) -> dict[str, dict[tuple[int, ...], float]]:
    """{cell: {subset (pass indices): mean PSNR of the subset's mean}}; ``dense``: one cell
    per clip with every t=0.5 triplet (:func:`dense_windows`) instead of the offsets' windows."""
    subsets = [c for k in range(1, max_passes + 1)
               for c in itertools.combinations(range(len(passes)), k)]
    out: dict[str, dict[tuple[int, ...], float]] = {}
    for offset in ([None] if dense else offsets):
        for clip in CLIPS:
            fr = decode(clip)
            for mode, (span, ts) in MODES.items():
                if dense and mode != "t=0.5":
                    continue
                per: dict[tuple[int, ...], list[float]] = {s: [] for s in subsets}
                starts = (dense_windows(clip, len(fr)) if dense
                          else windows(clip, len(fr), span, count, offset))
                for i in starts:
                    p0, p1 = union.prepare(fr[i]), union.prepare(fr[i + span])
                    frames, _ = union.candidates(p0, p1, ts)
                    for j, t in enumerate(ts):
                        truth = torch.from_numpy(fr[i + round(t * span)]).permute(2, 0, 1)
                        truth = truth.float().div_(255)
                        cand = [f[j] for f in frames]
                        for s in subsets:
                            x = cand[s[0]].clone()
                            for k in s[1:]:
                                x.add_(cand[k])
                            x = x.div_(len(s)).mul_(255).round_().clamp_(0, 255).div_(255)
                            mse = float((x - truth).square_().mean())
                            per[s].append(10 * np.log10(1 / max(mse, 1e-12)))
                    print(f"  {offset or 'dense'} {clip} {mode} window {i}", flush=True)
                out[f"{offset if offset is not None else 'dense'} {clip} {mode}"] = {
                    s: float(np.mean(v)) for s, v in per.items()}
    return out


def costs(members: dict, rounds: int) -> dict[str, dict[str, float]]:
    """ms per 1280x720 frame of each member's prepare (of a frame and of its flipped copy) and
    run at t=0.5, interleaved, medians."""
    fr = decode("bigbuckbunny")[20:20 + rounds + 2]
    times: dict[str, dict[str, list[float]]] = {m: {"prepare": [], "run": []} for m in members}
    for r in range(rounds + 1):  # round 0 warms up
        for m in list(members)[r % 2:] + list(members)[: r % 2]:
            it = members[m]
            t0 = time.perf_counter()
            p0 = it.prepare(_flip_np(fr[r], "h"))
            t1 = time.perf_counter()
            p1 = it.prepare(_flip_np(fr[r + 1], "h"))
            it.run(p0, p1, [0.5])
            t2 = time.perf_counter()
            if r:
                times[m]["prepare"].append((t1 - t0) * 1000)
                times[m]["run"].append((t2 - t1) * 1000 - times[m]["prepare"][-1])
    return {m: {k: float(np.median(v)) for k, v in d.items()} for m, d in times.items()}


def subset_cost(passes: list[Pass], subset: tuple[int, ...], ms: dict) -> float:
    views = {(passes[k].model, passes[k].flip) for k in subset}
    total = sum(ms[m]["prepare"] for m, _ in views)
    total += sum(ms[passes[k].model]["run"] for k in subset)
    base = ms["rife-4.25"]["prepare"] + ms["rife-4.25"]["run"]
    return total / base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--dense", action="store_true",
                    help="every t=0.5 triplet of each clip (one cell per clip) instead")
    ap.add_argument("--windows", type=int, default=6)
    ap.add_argument("--max-passes", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    members = {m: Interpolator.from_config(ModelConfig(model=m, device="cpu",
                                                       precision="fp32").validated())
               for m in MODELS}
    passes = candidate_passes()
    union = Ensemble({(m, 1.0): it for m, it in members.items()}, passes=passes)
    ms = costs(members, args.rounds)
    table = scores(union, passes, args.offsets, args.windows, args.max_passes, args.dense)
    base = passes.index(Pass("rife-4.25"))
    cells = list(table)
    rows = []
    for s in table[cells[0]]:
        gains = [table[c][s] - table[c][(base,)] for c in cells]
        rows.append({"passes": [str(passes[k]) for k in s], "cost": subset_cost(passes, s, ms),
                     "gain_db": float(np.mean(gains)), "worst_cell_db": float(min(gains)),
                     "cells_db": [round(g, 3) for g in gains]})
    rows.sort(key=lambda r: -r["gain_db"])
    print(f"\nper-frame ms at 1280x720: " + ", ".join(
        f"{m} prepare {d['prepare']:.0f} run {d['run']:.0f}" for m, d in ms.items()))
    for budget in BUDGETS:
        print(f"\nbest subsets costing at most x{budget} rife-4.25 (mean gain over {len(cells)} "
              f"cells; worst cell)")
        for r in [r for r in rows if r["cost"] <= budget][: args.top]:
            print(f"  {r['gain_db']:+.3f} dB  worst {r['worst_cell_db']:+.2f}  "
                  f"x{r['cost']:.2f}  {' + '.join(r['passes'])}")
    out = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / (
        datetime.date.today().isoformat() + "-ensemble-passes" + ("-dense" if args.dense else "")
        + "-cpu.json")
    head = json.dumps({"offsets": None if args.dense else args.offsets, "dense": args.dense,
                       "windows": args.windows, "cells": cells,
                       "ms": ms}, indent=1)[:-2]
    body = ",\n".join("  " + json.dumps(r) for r in rows)  # one subset a line
    out.write_text(head + ',\n "subsets": [\n' + body + "\n ]\n}\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
