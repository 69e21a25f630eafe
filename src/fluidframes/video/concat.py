"""Join segment files into one video-only intermediate without re-encoding (PyAV remux).

Each segment was encoded on its own with identical settings, starting at its own t=0 and with a
keyframe first. Joining copies every packet and shifts its timestamps by the segment's first
global output frame, so the result is exactly the frames of the segments, back to back.
PNG-folder outputs are joined by renaming frames to their global numbers.
"""

from __future__ import annotations

import logging
import shutil
import threading
from fractions import Fraction
from pathlib import Path

import av

from ..errors import CancelledError, MediaError
from .writer import _MUXER, _temp_sibling

log = logging.getLogger(__name__)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled")


def join(parts: list[Path], first_steps: list[int], rate: Fraction, dst: Path, kind: str,
         rotation: int = 0, cancel: threading.Event | None = None) -> tuple[Path, int]:
    """Join ``parts`` (in order; part i starts at output frame ``first_steps[i]``).

    ``cancel`` is checked between packets (a long output joins in seconds, not instantly).

    Returns a temporary path next to ``dst`` holding the joined video (or PNG folder), ready for
    :func:`fluidframes.video.mux.finalize`, and the number of frames in it.
    """
    if kind == "png-folder":
        return _join_pngs(parts, first_steps, dst, cancel)
    tmp = _temp_sibling(dst, "video", dst.suffix.lower())
    try:
        n = _join_packets(parts, first_steps, Fraction(rate), tmp, _MUXER[kind], rotation,
                          cancel)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, n


def _join_pngs(parts: list[Path], first_steps: list[int], dst: Path,
               cancel: threading.Event | None = None) -> tuple[Path, int]:
    tmp = _temp_sibling(dst, "part", "")
    tmp.mkdir()
    n_files = 0
    try:
        for part, first in zip(parts, first_steps):
            for f in sorted(part.glob("frame_*.png")):
                _check(cancel)
                n = int(f.stem.split("_")[1]) - 1 + first
                shutil.copyfile(f, tmp / f"frame_{n + 1:06d}.png")
                n_files += 1
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, n_files


def _join_packets(parts: list[Path], first_steps: list[int], rate: Fraction, out_path: Path,
                  muxer: str, rotation: int, cancel: threading.Event | None = None) -> int:
    frames = 0
    with av.open(str(parts[0])) as first:
        template = first.streams.video[0]
        out = av.open(str(out_path), "w", format=muxer)
        try:
            ostream = out.add_stream_from_template(template)
            if "alpha_mode" in template.metadata:
                ostream.metadata["alpha_mode"] = template.metadata["alpha_mode"]
            if rotation % 360:
                ostream.set_display_rotation(rotation)
            for part, step in zip(parts, first_steps):
                with av.open(str(part)) as c:
                    st = c.streams.video[0]
                    tb = st.time_base
                    shift = Fraction(step) / rate  # seconds
                    for packet in c.demux(st):
                        _check(cancel)
                        if packet.size == 0:
                            continue
                        off = shift / tb
                        if off.denominator != 1:
                            off = round(off)
                        off = int(off)
                        if packet.pts is not None:
                            packet.pts += off
                        if packet.dts is not None:
                            packet.dts += off
                        packet.stream = ostream
                        out.mux(packet)
                        frames += 1
        except av.FFmpegError as exc:
            raise MediaError(f"joining segments failed: {exc}") from exc
        finally:
            out.close()
    log.info("joined %d segment(s), %d frames, into %s", len(parts), frames, out_path.name)
    return frames
