"""Media helpers for the Ray tests (ffmpeg CLI makes inputs; PyAV reads outputs back)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_clip(path: Path, seconds: float = 2.0, tone: int = 440, size: str = "160x96") -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=48000:duration={seconds}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-crf", "14",
           "-c:a", "aac", str(path))
    return path


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def assert_same_video(a: Path, b: Path) -> None:
    """Same frames (up to x264's run-to-run noise) and the same audio packets.

    The frames handed to the encoder are identical (the PNG tests check that exactly), but
    x264's SIMD code reads uninitialised memory of its own, so two encodes of the same frames
    can differ by a level here and there. A missing, shifted or wrongly interpolated frame
    scores far below the bound (about 20-30 dB on this moving content).
    """
    from fluidframes.metrics import psnr

    fa, fb = decode_frames(a), decode_frames(b)
    assert len(fa) == len(fb) > 0
    for i, (x, y) in enumerate(zip(fa, fb)):
        assert psnr(x, y) > 40, f"frame {i} differs: {psnr(x, y):.1f} dB"
    assert audio_packets(a) == audio_packets(b)
