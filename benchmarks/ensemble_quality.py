"""Ensembles against single models on real footage, and static-overlay protection.

    PYTHONPATH=src .venv/bin/python benchmarks/ensemble_quality.py [--triplets 6] [--rounds 3]

1. Quality: drop-frame triplets of the three sample clips (frames i, i+2 predict i+1 at t=0.5),
   and "multi-4" windows (frames i, i+4 predict i+1..i+3 at t=.25/.5/.75). Windows never cross a
   cut (bikes) or a pulldown duplicate (bigbuckbunny). The positions are held out (``--offset``
   0.25 of a step): the ensembles' passes were chosen on positions 0.0 and 0.5
   (benchmarks/ensemble_passes.py), the weighting and overlay settings on 0.0. Per clip: mean PSNR (RGB) and SSIM (luma) against the true frames.
   Every model is loaded with ``fluidframes.load_interpolator`` as the CLI loads it. The
   ensembles' passes run once per window (one ensemble holding every pass of both, whose
   candidates each ensemble combines as its own ``run`` does); extra rows come from the same
   passes: the other weighting, and static-overlay protection switched the other way (the
   no-harm check on clean footage; where protection fills, the passes run again on the filled
   frames, as ``run`` does).
2. Speed: ms per interpolated 1280x720 frame (bigbuckbunny), the way the video pipeline pays it
   at 2x (one ``prepare`` of the new source frame + one ``run``), and per output frame at
   multi-4; all models interleaved in every round (rotating order), medians, ratio to rife-4.25
   as the median of per-round ratios.
3. Overlays: a subtitle (outline letters, or a boxed caption on an opaque plate) and a corner
   logo burned into real footage (tests/integration/overlay_footage.py); PSNR of the overlays'
   own pixels (capped at 99 dB: exact), of their boxes, of the boxes' picture pixels (between
   the letters, the margin) next to what the same model gives for those pixels on the footage
   without the overlay, and of the whole frame against the truth (the same overlay on the real
   middle frame), protection off / on without the fill / on; and a genuinely static scene (one
   real frame twice, with independent noise of sigma 1.5 levels; truth: the frame).

Writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from overlay_footage import (  # noqa: E402
    make_overlay, protection_variants, region_psnr, region_scores)

from fluidframes import overlays  # noqa: E402
from fluidframes.engine import load_interpolator  # noqa: E402
from fluidframes.ensemble import Ensemble, Weighting, with_overlay_protection  # noqa: E402
from fluidframes.metrics import psnr, ssim  # noqa: E402
from fluidframes.models.registry import ENSEMBLES  # noqa: E402
from fluidframes.options import ModelConfig  # noqa: E402
from fluidframes.samples import sample_path  # noqa: E402

CLIPS = ("bikes", "bigbuckbunny", "carphone")
CUTS = {"bikes": (29, 75, 136, 186, 241)}  # last frame of each shot but the final one
DUPLICATES = {"bigbuckbunny": (6, 31, 56, 81, 106)}  # frame i+1 repeats frame i
MODES = {"t=0.5": (2, [0.5]), "multi-4": (4, [0.25, 0.5, 0.75])}


def decode(name: str) -> list[np.ndarray]:
    with av.open(str(sample_path(name))) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def windows(name: str, count: int, span: int, n: int, offset: float = 0.25) -> list[int]:
    """``n`` first frames of windows ``i .. i+span`` spread over the clip, none crossing a cut or
    a duplicated frame, at ``offset`` (0 .. 1) of the step between them: 0.0 and 0.5 are the
    positions choices were made on, 0.25 the held-out positions the table reports."""
    def ok(i: int) -> bool:
        if i + span >= count:
            return False
        if any(i <= c < i + span for c in CUTS.get(name, ())):
            return False
        return not any(i <= d < i + span for d in DUPLICATES.get(name, ()))

    good = [i for i in range(count) if ok(i)]
    return [good[min(int((k + offset) * len(good) / n), len(good) - 1)] for k in range(n)]


def score(outs: list[np.ndarray], truths: list[np.ndarray]) -> list[tuple[float, float]]:
    return [(psnr(o, g), ssim(o, g)) for o, g in zip(outs, truths)]


def quality(models: dict, ensembles: dict, triplets: int, offset: float = 0.25) -> dict:
    """{clip: {mode: {row: {psnr, ssim, frames}}}}."""
    members = {k: m for e in ensembles.values() for k, m in e.members.items()}
    passes = tuple(dict.fromkeys(p for e in ensembles.values() for p in e.passes))
    union = Ensemble(members, passes=passes, name="all passes")
    table: dict = {}
    for clip in CLIPS:
        fr = decode(clip)
        for mode, (span, ts) in MODES.items():
            rows: dict[str, list] = {}
            for i in windows(clip, len(fr), span, triplets, offset):
                a, b = fr[i], fr[i + span]
                truths = [fr[i + round(t * span)] for t in ts]
                for name, m in models.items():
                    rows.setdefault(name, []).extend(score(m.run(m.prepare(a), m.prepare(b), ts),
                                                           truths))
                p0, p1 = union.prepare(a), union.prepare(b)
                cands = dict(zip(passes, zip(*union.candidates(p0, p1, ts))))
                s0, s1 = union._source(p0), union._source(p1)
                # protection as run() does it: the passes again on filled frames if it fills
                found = overlays.detect(s0, s1)
                f0, f1, weight = union.filled(p0, p1, s0, s1, found)
                filled = (cands if f0 is p0 else
                          dict(zip(passes, zip(*union.candidates(f0, f1, ts)))))
                for name, ens in ensembles.items():
                    alt = Weighting("residual" if ens.weighting.kind == "mean" else "mean")
                    for wt, label in ((ens.weighting, name), (alt, f"{name} [{alt.kind}]")):
                        comb = Ensemble(ens.members, passes=ens.passes, weighting=wt).combine
                        out = comb(*(list(x) for x in zip(*(cands[p] for p in ens.passes))))
                        prot = overlays.compose(
                            comb(*(list(x) for x in zip(*(filled[p] for p in ens.passes)))),
                            s0, s1, ts, weight)
                        plain_o, prot_o = union._to_numpy(out, p0), union._to_numpy(prot, p0)
                        first, other = ((prot_o, plain_o) if ens.protect_static
                                        else (plain_o, prot_o))
                        rows.setdefault(label, []).extend(score(first, truths))
                        if label == name:
                            tag = " -protect" if ens.protect_static else " +protect"
                            rows.setdefault(name + tag, []).extend(score(other, truths))
                print(f"  {clip} {mode} window {i} done", flush=True)
            table.setdefault(clip, {})[mode] = {
                r: {"psnr": float(np.mean([x[0] for x in v])),
                    "ssim": float(np.mean([x[1] for x in v])), "frames": len(v)}
                for r, v in rows.items()}
    return table


def speed(objs: dict, rounds: int) -> dict:
    """ms per interpolated 720p frame (2x: prepare + run at t=.5; multi-4: per output frame)."""
    fr = decode("bigbuckbunny")[20:20 + rounds + 2]
    names = list(objs)
    out: dict = {}
    for mode, ts in (("t=0.5", [0.5]), ("multi-4", [0.25, 0.5, 0.75])):
        prev = {n: objs[n].prepare(fr[0]) for n in names}
        times: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds + 1):  # round 0 warms up
            order = names[r % len(names):] + names[: r % len(names)]
            for n in order:
                m = objs[n]
                t0, c0 = time.perf_counter(), time.process_time()
                p = m.prepare(fr[r + 1])
                m.run(prev[n], p, ts)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                prev[n] = p
                if r:
                    times[n].append(dt * 1000 / len(ts))
                    cpu[n].append(dc * 1000 / len(ts))
            print(f"  speed {mode} round {r}: " + " ".join(
                f"{n} {times[n][-1]:.0f}" for n in names if r), flush=True)
        base = times[names[0]]
        out[mode] = {n: {"ms": float(np.median(times[n])), "cpu_ms": float(np.median(cpu[n])),
                         "ratio": float(np.median([t / b for t, b in zip(times[n], base)])),
                         "cpu_ratio": float(np.median([t / b for t, b in
                                                       zip(cpu[n], cpu[names[0]])])),
                         "runs_ms": [round(t) for t in times[n]]} for n in names}
    return out


def overlay_results(it425, ensembles: dict, per_clip: int) -> dict:
    """Overlays burned into real footage, protection off / on without the fill / on (with the
    fill, as ``run`` does it), and a static scene.

    Per clip, subtitle style (``outline``: letters on the picture; ``boxed``: on an opaque
    plate) and model, mean PSNR at t=0.5 against the truth (the overlay on the real middle
    frame) of: each overlay's own pixels (capped at 99 dB: exact), its box, the box's *picture*
    pixels (where the overlay is fully transparent, outline style and the logo's margin) and
    the whole frame; and ``... picture clean``: the same model on the same footage without the
    overlay, scored on the same picture pixels (what the picture there would be if the overlay
    were not there: the best the box's picture can get). ``filled``: share of pairs filled.
    """
    objs = {"rife-4.25": with_overlay_protection(it425), **ensembles}
    res: dict = {}
    rng = np.random.default_rng(7)
    for clip in ("bigbuckbunny", "bikes"):
        fr = decode(clip)
        h, w = fr[0].shape[:2]
        for style in ("outline", "boxed"):
            ov = make_overlay(h, w, style=style)
            for i in windows(clip, len(fr), 2, per_clip):
                a, g, b = (ov.burn(x) for x in (fr[i], fr[i + 1], fr[i + 2]))
                for name, ens in objs.items():
                    outs = dict(zip(("off", "on", "on+fill"), protection_variants(ens, a, b)))
                    clean = protection_variants(ens, fr[i], fr[i + 2])[0]
                    d = res.setdefault(clip, {}).setdefault(style, {}).setdefault(name, {})
                    d.setdefault("filled", []).append(
                        float(not np.array_equal(outs["on"], outs["on+fill"])))
                    for reg in ov.regions:
                        if ov.picture[reg].any():
                            d.setdefault(f"{reg} picture clean", []).append(
                                region_psnr(clean, fr[i + 1], ov.picture[reg]))
                    for tag, o in outs.items():
                        t = d.setdefault(tag, {})
                        for k, v in region_scores(ov, o, g).items():
                            t.setdefault(k, []).append(v)
    static: dict = {}
    for clip in CLIPS:
        f = decode(clip)[30]
        a, b = (np.clip(f + rng.normal(0, 1.5, f.shape), 0, 255).round().astype(np.uint8)
                for _ in range(2))
        for name, ens in objs.items():
            outs = dict(zip(("off", "on", "on+fill"), protection_variants(ens, a, b)))
            static.setdefault(clip, {})[name] = {tag: psnr(o, f) for tag, o in outs.items()}

    def mean(v):
        return {k: mean(x) for k, x in v.items()} if isinstance(v, dict) else float(np.mean(v))

    return {"overlaid": mean(res), "static_scene": static}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--triplets", type=int, default=6)
    ap.add_argument("--offset", type=float, default=0.25, help="window positions (see windows)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--overlay-windows", type=int, default=3)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--skip", nargs="*", default=[], choices=["quality", "speed", "overlays"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    def load(name: str):
        return load_interpolator(ModelConfig(model=name, device="cpu", precision=args.precision,
                                             threads=args.threads))

    it425, it46 = load("rife-4.25"), load("rife-4.6")
    ens = {n: load(n) for n in ENSEMBLES}
    result: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads":
                    torch.get_num_threads(), "torch": torch.__version__,
                    "loadavg_start": os.getloadavg()},
        "precision": it425.info.precision,
        "ensembles": {n: {"members": list(s.members), "passes": [str(p) for p in s.passes],
                          "weighting": s.weighting, "protect_static": s.protect_static}
                      for n, s in ENSEMBLES.items()},
    }
    if "quality" not in args.skip:
        result["quality"] = q = quality({"rife-4.25": it425, "rife-4.6": it46}, ens, args.triplets,
                                            args.offset)
        print(f"\nQuality ({args.triplets} windows per clip and mode, "
              f"{it425.info.precision} convs)")
        rows = list(next(iter(next(iter(q.values())).values())))
        print(f"{'model':34}" + "".join(f"{c[:8] + ' ' + m:>22}" for c in CLIPS for m in MODES)
              + f"{'mean gain':>11}")
        for r in rows:
            cells, gains = "", []
            for c in CLIPS:
                for m in MODES:
                    x = q[c][m][r]
                    cells += f"{x['psnr']:13.2f} {x['ssim']:.4f}"
                    gains.append(x["psnr"] - q[c][m]["rife-4.25"]["psnr"])
            print(f"{r:34}{cells}{np.mean(gains):+10.3f}")
    if "speed" not in args.skip:
        objs = {"rife-4.25": it425, "rife-4.6": it46, **ens}
        result["speed"] = s = speed(objs, args.rounds)
        print(f"\nSpeed, ms per interpolated 1280x720 frame ({args.rounds} interleaved rounds)")
        for n in objs:
            print(f"{n:20}" + "".join(f"  {m}: {s[m][n]['ms']:7.0f} ms x{s[m][n]['ratio']:.2f}"
                                      f" (cpu x{s[m][n]['cpu_ratio']:.2f})" for m in s))
    if "overlays" not in args.skip:
        result["overlays"] = o = overlay_results(it425, ens, args.overlay_windows)
        print("\nOverlays: PSNR dB off / on without the fill / on (with the fill, as run);"
              " picture: the box's picture pixels, clean: the same without the overlay")
        for clip, by_style in o["overlaid"].items():
            for style, by in by_style.items():
                for n, d in by.items():
                    print(f"{clip:13} {style:8} {n:18} filled {d['filled']:.2f}" + "".join(
                        f"  {k} {d['off'][k]:.2f}/{d['on'][k]:.2f}/{d['on+fill'][k]:.2f}"
                        + (f" (clean {d[k + ' clean']:.2f})" if k + " clean" in d else "")
                        for k in d["off"]))
        print("Static scene (same frame twice + noise), PSNR vs the frame: off / on / on+fill")
        for clip, by in o["static_scene"].items():
            print(f"{clip:13}" + "".join(
                f"  {n} {d['off']:.3f}/{d['on']:.3f}/{d['on+fill']:.3f}" for n, d in by.items()))
    result["machine"]["loadavg_end"] = os.getloadavg()
    out = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / (
        datetime.date.today().isoformat() + "-ensemble-cpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
