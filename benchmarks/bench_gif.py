"""GIF output: file size and picture quality of the GIF against the PNG frames of the same run.

Usage: python benchmarks/bench_gif.py [--code SRC_DIR] [--label NAME] [--json out.json]
       [--model rife-4.25 | --model-file tiny.pkl] [VARIANT ...]

Each VARIANT is one GIF run's extra flags as one argument ("" = the defaults; e.g.
"--gif-dither bayer" or "--gif-palette frame"); the PNG reference is made once.

The clip is 1 s of the bigbuckbunny sample (fluidframes.samples) scaled to 320x180 (made once
with the ffmpeg CLI, a test tool here). ``fluidframes interpolate --multi 2`` runs twice on it
from ``--code`` (a ``src`` folder, so the same script measures an older checkout too): once to a
.gif, once to a PNG folder. The PNG frames are the reference: PSNR (mean over frames, RGB)
of the decoded GIF says what the palette and dithering cost, the file size what they save.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", default=str(Path(__file__).resolve().parents[1] / "src"))
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--model", default="rife-4.25")
    ap.add_argument("--model-file")
    ap.add_argument("--json")
    ap.add_argument("variants", nargs="*", default=[""],
                    help="one GIF run per argument: its extra interpolate flags")
    a = ap.parse_args()
    sys.path.insert(0, a.code)
    from fluidframes.samples import sample_path

    env = {**os.environ, "PYTHONPATH": a.code}
    model = ["--model-file", a.model_file] if a.model_file else ["--model", a.model]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        clip = d / "bbb_1s_320.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(sample_path("bigbuckbunny")),
                        "-t", "1", "-vf", "scale=320:180", "-an", "-c:v", "libx264", "-crf",
                        "10", str(clip)], check=True)

        def interpolate(dst: Path, *flags: str) -> float:
            t = time.monotonic()
            subprocess.run([sys.executable, "-m", "fluidframes.cli", "interpolate", str(clip),
                            "-o", str(dst), "--multi", "2", "--quiet", *model, *flags],
                           check=True, env=env)
            return time.monotonic() - t

        interpolate(d / "png", "--png")
        ref = [np.asarray(av.open(str(p)).decode(video=0).__next__().to_ndarray(format="rgb24"))
               for p in sorted((d / "png").glob("*.png"))]
        rows = []
        for n, variant in enumerate(a.variants or [""]):
            gif = d / f"out{n}.gif"
            secs = interpolate(gif, *variant.split())
            got = decode(gif)
            if len(got) != len(ref):
                raise SystemExit(f"GIF has {len(got)} frames, PNG {len(ref)}")
            if got[0].shape != ref[0].shape:  # --gif-width: compare at the GIF's size
                size = (got[0].shape[1], got[0].shape[0])
                scaled = [np.asarray(Image.fromarray(r).resize(size, Image.LANCZOS)) for r in ref]
            else:
                scaled = ref
            scores = [psnr(g, r) for g, r in zip(got, scaled)]
            row = {"label": a.label, "flags": variant, "frames": len(got),
                   "bytes": gif.stat().st_size,
                   "psnr_mean_db": round(float(np.mean(scores)), 2),
                   "psnr_min_db": round(float(np.min(scores)), 2), "seconds": round(secs, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
