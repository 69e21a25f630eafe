"""The preview window: a few seconds cut out of an upload, to render before the whole file.

The pipeline has no start/duration option, so a preview job runs the ordinary pipeline on a
short clip made here: the frames of ``[start, start + seconds)`` decoded with the project's
reader (it seeks to the keyframe before ``start`` and drops the frames before it unconverted)
and re-encoded with the project's writer at high quality (x264 CRF 12, so the comparison shows
the interpolation, not our re-encode). Colour tags, rotation, bit depth and alpha carry over
as in any run. The clip has no audio, and a variable-rate source comes out at its nominal rate.

The cut checks the job's cancel event between frames and writes under a temporary name: a
cancelled or failed cut leaves nothing behind.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

from ..errors import CancelledError, InputError

PREVIEW_SECONDS = 3.0  # default window
MIN_SECONDS = 0.2


def window(point: float, seconds: float, duration: float | None) -> tuple[float, float]:
    """``(start, seconds)`` of a window of ``seconds`` centred on ``point``, moved inside
    ``[0, duration]`` (and shortened to the clip when the clip is shorter)."""
    if duration is not None:
        if point > duration:
            raise InputError(f"preview_at must be within the video (0 to {duration:.2f} s), "
                             f"got {point:g}")
        seconds = min(seconds, duration)
    start = max(0.0, point - seconds / 2)
    if duration is not None and start + seconds > duration:
        start = max(0.0, duration - seconds)
    return start, seconds


def clip_name(info_has_alpha: bool) -> str:
    return "clip.mkv" if info_has_alpha else "clip.mp4"


def cut(src: Path, dst: Path, start: float, seconds: float,
        cancel: threading.Event | None = None) -> Path:
    """Write the frames of ``src`` in ``[start, start + seconds)`` to ``dst``; return ``dst``."""
    from ..video.reader import probe, read_frames
    from ..video.writer import EncodeOptions, VideoWriter

    info = probe(src)
    first = Fraction(start).limit_denominator(1_000_000)
    end = first + Fraction(seconds).limit_denominator(1_000_000)
    opts = (EncodeOptions() if info.has_alpha  # the container's alpha-capable default
            else EncodeOptions(codec="libx264", crf=12, preset="veryfast"))
    writer = VideoWriter(dst, info.width, info.height, info.rate, info, opts,
                         alpha=info.has_alpha, high_bit_depth=info.bit_depth > 8)
    try:
        for frame in read_frames(info, start=first if first > 0 else None):
            if cancel is not None and cancel.is_set():
                raise CancelledError("cancelled")
            if frame.pts >= end and writer.frames_written >= 2:
                break
            writer.write(frame.image)
        if writer.frames_written < 2:
            raise InputError("the preview window holds fewer than two frames: pick another point")
        tmp = writer.close()
    except BaseException:
        writer.abort()
        raise
    os.replace(tmp, dst)
    return dst


__all__ = ["PREVIEW_SECONDS", "clip_name", "cut", "window"]
