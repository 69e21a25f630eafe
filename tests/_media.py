"""Test media for every test folder: synthetic inputs and independent read-backs.

Imported by name (``from _media import ...``): ``tests/`` has no packages, and pytest puts this
folder on ``sys.path`` because ``tests/conftest.py`` lives here.

The ffmpeg/ffprobe CLI is only a test tool: it makes inputs with known content (lavfi sources)
and checks outputs independently of the PyAV code under test. :func:`encode_frames` is the other
way to make inputs, for the cases the CLI cannot: exact per-frame timestamps, corrupt packets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="the ffmpeg CLI (ffmpeg and ffprobe) is missing; Debian: apt-get install ffmpeg")


# ---- the CLI ---------------------------------------------------------------------------------

def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def ffprobe(path: Path, *, count_frames: bool = False) -> dict:
    """Streams, format and chapters as ffprobe reports them (``nb_read_frames`` with
    ``count_frames``: it decodes the whole file)."""
    args = ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format",
            "-show_chapters"]
    if count_frames:
        args.append("-count_frames")
    out = subprocess.run([*args, str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def stream_duration(s: dict) -> float:
    """A stream's duration as ffprobe reports it: the ``duration`` field (mp4, mov) or, in
    Matroska/WebM, the muxer's ``DURATION`` tag (HH:MM:SS.fffffffff)."""
    if "duration" in s:
        return float(s["duration"])
    tag = next(v for k, v in s.get("tags", {}).items() if k.upper() == "DURATION")
    h, m, sec = tag.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def streams(path: Path, kind: str) -> list[dict]:
    """ffprobe's streams of one kind: ``video``, ``audio``, ``subtitle``."""
    return [s for s in ffprobe(path)["streams"] if s["codec_type"] == kind]


def video_stream(probe: dict) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == "video")


def audio_stream(probe: dict) -> dict | None:
    return next((s for s in probe["streams"] if s["codec_type"] == "audio"), None)


def rate(s: dict) -> Fraction:
    return Fraction(s["r_frame_rate"])


def packet_times(path: Path) -> list[float]:
    """The video packets' presentation times (s), in file order."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time",
         "-of", "csv=p=0", str(path)], check=True, capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


def subtitle_text(path: Path) -> str:
    """The first subtitle stream as SRT text, converted by ffmpeg."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
        check=True, capture_output=True, text=True).stdout


# ---- synthetic inputs ------------------------------------------------------------------------

def lavfi_testsrc(size: str = "160x96", rate: str | int = 24,
                  seconds: float | None = None) -> list[str]:
    """ffmpeg input arguments: the moving testsrc2 pattern (endless unless ``seconds``)."""
    spec = f"testsrc2=size={size}:rate={rate}"
    return ["-f", "lavfi", "-i", spec if seconds is None else f"{spec}:duration={seconds}"]


def lavfi_sine(frequency: int = 440, seconds: float | None = None) -> list[str]:
    """ffmpeg input arguments: a 48 kHz sine tone (endless unless ``seconds``)."""
    spec = f"sine=frequency={frequency}:sample_rate=48000"
    return ["-f", "lavfi", "-i", spec if seconds is None else f"{spec}:duration={seconds}"]


def make_clip(path: Path, *, size: str = "160x96", rate: str = "24", seconds: float = 2.0,
              audio: bool = True, tone: int = 440, gop: int | None = None, crf: int = 12,
              flash_at: float | None = None, beep_at: float | None = None,
              vf: str | None = None, extra: tuple[str, ...] = ()) -> Path:
    """H.264 test pattern + AAC tone; optionally a 1 kHz beep and a white flash at known times,
    a keyframe every ``gop`` frames, a video filter, and ``extra`` output options (they come
    last, so they can override the codec or pixel format)."""
    filters = []
    if flash_at is not None:
        on = f"between(t,{flash_at - 0.001},{flash_at + 0.001})"
        filters.append(f"drawbox=c=white:t=fill:enable='{on}'")
    if vf:
        filters.append(vf)
    args = lavfi_testsrc(size, rate, seconds)
    if audio:
        if beep_at is not None:
            expr = f"if(between(t\\,{beep_at}\\,{beep_at + 0.1})\\,0.8*sin(2*PI*1000*t)\\,0)"
            args += ["-f", "lavfi", "-i", f"aevalsrc={expr}:s=48000:d={seconds}"]
        else:
            args += lavfi_sine(tone, seconds)
    if filters:
        args += ["-vf", ",".join(filters)]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf)]
    if gop is not None:
        args += ["-g", str(gop)]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k"]
    ffmpeg(*args, *extra, str(path))
    return path


GARBAGE = b"\x00garbage, not a jpeg\xff" * 8


def encode_frames(path: Path, images: Sequence[np.ndarray], *, codec: str = "libx264",
                  pix_fmt: str = "yuv420p", rate: Fraction | int = 24,
                  pts: Sequence[int] | None = None, time_base: Fraction | None = None,
                  options: dict[str, str] | None = None, rotation: int | None = None,
                  corrupt: Iterable[int] = ()) -> Path:
    """Encode RGB ``images`` with PyAV, frame ``n`` at ``pts[n]`` (default ``n``) in
    ``time_base`` (default ``1/rate``). ``rotation`` adds a display matrix; the packets of the
    frames in ``corrupt`` are replaced by :data:`GARBAGE` with their timestamps kept."""
    rate = Fraction(rate)
    tb = Fraction(time_base) if time_base is not None else 1 / rate
    corrupt = set(corrupt)
    h, w = images[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream(codec, rate=rate)
        st.width, st.height, st.pix_fmt = w, h, pix_fmt
        st.codec_context.time_base = tb
        if time_base is not None:
            st.time_base = tb
        if options:
            st.options = options
        if rotation is not None:
            st.set_display_rotation(rotation)
        for n, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = (n if pts is None else pts[n]), tb
            for packet in st.encode(frame):
                if n in corrupt:
                    bad = av.Packet(GARBAGE)
                    bad.pts, bad.dts, bad.time_base, bad.stream = frame.pts, frame.pts, tb, st
                    packet = bad
                out.mux(packet)
        out.mux(st.encode(None))
    return path


# ---- read-backs (PyAV) -----------------------------------------------------------------------

def frames_of(path: Path) -> list[np.ndarray]:
    """Every decoded video frame, RGB uint8."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def packets(path: Path, kind: str = "audio") -> list[bytes]:
    """The payloads of the first stream of ``kind`` (none: ``[]``), in file order."""
    with av.open(str(path)) as c:
        found = getattr(c.streams, kind)
        if not found:
            return []
        return [bytes(p) for p in c.demux(found[0]) if p.size]


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


def assert_same_video(a: Path, b: Path) -> None:
    """Same frames (up to x264's run-to-run noise) and the same audio packets.

    The frames handed to the encoder are identical (the PNG tests check that exactly), but
    x264's SIMD code reads uninitialised memory of its own, so two encodes of the same frames
    can differ by a level here and there. A missing, shifted or wrongly interpolated frame
    scores far below the bound (about 20-30 dB on this moving content).
    """
    from fluidframes.metrics import psnr

    fa, fb = frames_of(a), frames_of(b)
    assert len(fa) == len(fb) > 0
    for i, (x, y) in enumerate(zip(fa, fb)):
        assert psnr(x, y) > 40, f"frame {i} differs: {psnr(x, y):.1f} dB"
    assert packets(a) == packets(b)
