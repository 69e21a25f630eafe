"""How to combine an ensemble's candidates per pixel: the mean against robust and weighted rules.

    PYTHONPATH=src .venv/bin/python benchmarks/ensemble_combine.py [--model rife-ensemble-max]
        [--offsets 0.0 0.5] [--windows 4] [--threads 2]

The named ensemble's passes run once per window (the windows of benchmarks/ensemble_quality.py
at the selection positions ``--offsets``); each rule then combines the same candidates, the
result is rounded to 8 bits and scored (PSNR against the true frame) as a gain over rife-4.25
alone on the same window. Rules: the plain mean (what ``Ensemble.combine`` does), the per-pixel
median, the mean without each pixel's highest and lowest candidate, the mean of mean and median,
a Huber M-estimate (3 reweighting steps from the median; ``k`` in levels of 255: small k is near
the median, large k near the mean), and the motion-residual weighting kept in
``fluidframes.ensemble.Weighting``. A cell is one clip and mode at one offset.

Prints the gain per cell and rule and the mean over cells; writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from ensemble_quality import CLIPS, MODES, decode, windows  # noqa: E402

from fluidframes.engine import Interpolator  # noqa: E402
from fluidframes.ensemble import Ensemble, Weighting  # noqa: E402
from fluidframes.metrics import psnr  # noqa: E402
from fluidframes.models.registry import ENSEMBLES, Pass  # noqa: E402
from fluidframes.options import ModelConfig  # noqa: E402

Rule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (K x C x H x W, K x 1 x H x W)


def _huber(c: torch.Tensor, k: float, steps: int = 3) -> torch.Tensor:
    m = c.median(0).values
    for _ in range(steps):
        r = (c - m).abs_()
        w = torch.where(r <= k, torch.ones_like(r), k / r.clamp(min=1e-9))
        m = (w * c).sum(0) / w.sum(0)
    return m


def rules(union: Ensemble, k: int) -> dict[str, Rule]:
    """The rules for ``k`` candidates (with two, every robust rule is the mean)."""
    by_residual = Ensemble(union.members, passes=union.passes,
                           weighting=Weighting("residual")).combine

    def weighted(c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return by_residual(list(c[:, None]), list(r[:, None]))[0]

    out: dict[str, Rule] = {"mean": lambda c, r: c.mean(0), "residual": weighted}
    if k < 3:
        return out
    out.update({
        "median": lambda c, r: c.median(0).values,
        "trimmed": lambda c, r: (c.sum(0) - c.amax(0) - c.amin(0)) / (c.shape[0] - 2),
        "mean+median": lambda c, r: 0.5 * (c.mean(0) + c.median(0).values),
    })
    for step in (1, 2, 4, 8):
        out[f"huber{step}"] = (lambda kk: lambda c, r: _huber(c, kk / 255.0))(step)
    return out


def _psnr(x: torch.Tensor, truth: np.ndarray) -> float:
    """PSNR of a C x H x W fp32 frame in [0, 1], rounded to 8 bits, against an 8-bit frame."""
    return psnr(x.mul(255).round_().clamp_(0, 255).byte().permute(1, 2, 0).numpy(), truth)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="rife-ensemble-max", choices=sorted(ENSEMBLES))
    ap.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    passes = list(ENSEMBLES[args.model].passes)
    members = {m: Interpolator.from_config(ModelConfig(model=m, device="cpu",
                                                       precision="fp32").validated())
               for m in {p.model for p in passes} | {"rife-4.25"}}
    union = Ensemble({(m, 1.0): it for m, it in members.items()},
                     passes=passes + [Pass("rife-4.25")])  # the last one is the baseline
    combine = rules(union, len(passes))
    cells: dict[str, dict[str, float]] = {}
    with torch.inference_mode():
        for offset in args.offsets:
            for clip in CLIPS:
                fr = decode(clip)
                for mode, (span, ts) in MODES.items():
                    gains: dict[str, list[float]] = {name: [] for name in combine}
                    for i in windows(clip, len(fr), span, args.windows, offset):
                        frames, residuals = union.candidates(union.prepare(fr[i]),
                                                             union.prepare(fr[i + span]), ts)
                        for j, t in enumerate(ts):
                            truth = fr[i + round(t * span)]
                            base = _psnr(frames[-1][j], truth)
                            c = torch.stack([f[j] for f in frames[:-1]])
                            r = torch.stack([x[j] for x in residuals[:-1]])
                            for name, rule in combine.items():
                                gains[name].append(_psnr(rule(c, r), truth) - base)
                    cell = f"{offset} {clip} {mode}"
                    cells[cell] = {name: float(np.mean(v)) for name, v in gains.items()}
                    print(f"{cell:28s} " + "  ".join(f"{n} {g:+.3f}"
                                                   for n, g in cells[cell].items()), flush=True)
    overall = {name: float(np.mean([c[name] for c in cells.values()])) for name in combine}
    print(f"\n{args.model}: gain over rife-4.25, mean of {len(cells)} cells")
    for name, g in sorted(overall.items(), key=lambda kv: -kv[1]):
        print(f"  {name:12s} {g:+.3f} dB")
    out = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / (
        f"{datetime.date.today().isoformat()}-ensemble-combine-{args.model}-cpu.json")
    out.write_text(json.dumps({"model": args.model, "passes": [str(p) for p in passes],
                               "offsets": args.offsets, "windows": args.windows,
                               "overall_db": overall, "cells_db": cells}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
