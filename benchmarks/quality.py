"""Drop-frame quality on the real sample clips: predict frame i+1 from frames i and i+2.

Prints PSNR/SSIM per clip for each model and for plain blending (the baseline).

    .venv/bin/python benchmarks/quality.py [--triplets 8] [--precision fp32]
"""

from __future__ import annotations

import argparse

import av
import numpy as np

from fluidframes.engine import Interpolator
from fluidframes.metrics import blend, psnr, ssim
from fluidframes.samples import sample_path


def frames(name: str, count: int) -> list[np.ndarray]:
    with av.open(str(sample_path(name))) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(count), c.decode(video=0))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--triplets", type=int, default=8)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--models", nargs="+", default=["rife-4.25", "rife-4.6"])
    args = ap.parse_args()
    models = {m: Interpolator(m, device="cpu", precision=args.precision) for m in args.models}
    print(f"{'clip':14} {'method':10} {'PSNR dB':>8} {'SSIM':>7}   ({args.triplets} triplets/clip)")
    for clip in ("bikes", "bigbuckbunny", "carphone"):
        fr = frames(clip, 300)
        stride = max(2, (len(fr) - 3) // args.triplets)
        trip = [(fr[k], fr[k + 1], fr[k + 2]) for k in range(0, len(fr) - 2, stride)][: args.triplets]
        rows = {"blend": [blend(a, b) for a, _, b in trip]}
        for name, it in models.items():
            rows[name] = [it.interpolate(a, b, 0.5) for a, _, b in trip]
        for name, outs in rows.items():
            p = np.mean([psnr(o, g) for o, (_, g, _) in zip(outs, trip)])
            s = np.mean([ssim(o, g) for o, (_, g, _) in zip(outs, trip)])
            print(f"{clip:14} {name:10} {p:8.2f} {s:7.4f}")


if __name__ == "__main__":
    main()
