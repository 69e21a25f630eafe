"""Synthetic test media made by FFmpeg's lavfi sources, and ffprobe read-backs.

The ffmpeg/ffprobe CLI is only a test tool here: it makes inputs with known content and
checks outputs independently of the PyAV code under test.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_clip(path: Path, *, size: str = "160x96", rate: str = "24", seconds: float = 2.0,
              audio: bool = True, flash_at: float | None = None, beep_at: float | None = None,
              vf: str | None = None, extra: tuple[str, ...] = ()) -> Path:
    """A moving test pattern (+ optional 1 kHz beep and a white flash at known times)."""
    filters = []
    if flash_at is not None:
        filters.append(f"drawbox=c=white:t=fill:enable='between(t,{flash_at - 0.001},{flash_at + 0.001})'")
    if vf:
        filters.append(vf)
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        if beep_at is not None:
            expr = f"if(between(t\\,{beep_at}\\,{beep_at + 0.1})\\,0.8*sin(2*PI*1000*t)\\,0)"
            args += ["-f", "lavfi", "-i", f"aevalsrc={expr}:s=48000:d={seconds}"]
        else:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if filters:
        args += ["-vf", ",".join(filters)]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k"]
    ffmpeg(*args, *extra, str(path))
    return path


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-show_format",
         "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def video_stream(probe: dict) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == "video")


def audio_stream(probe: dict) -> dict | None:
    return next((s for s in probe["streams"] if s["codec_type"] == "audio"), None)


def rate(s: dict) -> Fraction:
    return Fraction(s["r_frame_rate"])


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def brightest_frame(path: Path) -> tuple[int, Fraction]:
    """Index and timestamp (s) of the brightest frame (the flash)."""
    best, best_t, best_v = -1, Fraction(0), -1.0
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        for i, f in enumerate(c.decode(st)):
            v = float(f.to_ndarray(format="gray").mean())
            if v > best_v:
                best, best_v, best_t = i, v, Fraction(f.pts) * st.time_base
    return best, best_t - (Fraction(st.start_time or 0) * st.time_base)


def beep_onset(path: Path) -> float:
    """Time (s, relative to the video stream start) where the audio first gets loud."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        v0 = c.streams.video[0]
        vstart = float((v0.start_time or 0) * v0.time_base)
        for f in c.decode(a):
            x = f.to_ndarray()
            x = x if x.ndim == 1 else x[0]
            loud = np.nonzero(np.abs(x) > 0.3)[0]
            if loud.size:
                return float(f.pts * f.time_base) + loud[0] / f.sample_rate - vstart
    raise AssertionError("no beep found")
