"""Segments: the unit of work, checkpointing and distribution.

Every run, local or on many machines, cuts the source into segments at keyframes (so each one
decodes on its own), renders each segment into its own video file, and joins the files without
re-encoding. Because this is the only path, the output does not depend on how many workers
rendered it, and completed segments are checkpoints that ``--resume`` picks up.

A segment owns the source frames with ``start <= pts < stop`` and also decodes the first frame
at or after ``stop`` (one frame of overlap), so the output frames between its last frame and the
next segment's first frame are interpolated exactly as an uncut run would. It renders the output
steps ``first_step <= k < end_step`` of the global timing plan (the last segment: up to the end
of the clip), so the segment files line up frame for frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ._wheels import cache_root
from .errors import InputError
from .timing import TimingPlan
from .video.reader import VideoInfo, scan_frames

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_SECONDS = 10.0
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Segment:
    index: int
    start: Fraction  # pts of its first source frame
    stop: Fraction | None  # pts of the next segment's first frame (None: the last segment)
    first_step: int  # first global output frame index it renders
    end_step: int | None  # one past its last output frame (None: up to the end of the clip)
    #: pts of the clip's first frame, the time origin of the global plan (None: not scanned,
    #: a single segment takes it from its first decoded frame)
    origin: Fraction | None = None

    def to_json(self) -> dict:
        return {"index": self.index, "start": str(self.start),
                "stop": None if self.stop is None else str(self.stop),
                "first_step": self.first_step, "end_step": self.end_step,
                "origin": None if self.origin is None else str(self.origin)}


def plan_segments(info: VideoInfo, plan: TimingPlan, seconds: float | None,
                  single: bool = False) -> list[Segment]:
    """Cut the clip at keyframes into segments of about ``seconds`` of source each."""
    if single or seconds is None or seconds <= 0:
        return [Segment(0, Fraction(0), None, 0, None)]
    frames = scan_frames(info)
    if len(frames) < 2:
        return [Segment(0, Fraction(0), None, 0, None)]
    origin = frames[0][0]
    target = Fraction(seconds).limit_denominator(1000)
    starts = [origin]
    for pts, key in frames[1:]:
        # a cut needs a keyframe and enough source since the last cut; never cut in the
        # final frame (the last segment must have a pair to work on)
        if key and pts - starts[-1] >= target and pts < frames[-1][0]:
            starts.append(pts)
    segs = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else None
        first = 0 if i == 0 else plan.first_step_at(start - origin)
        end = None if stop is None else plan.first_step_at(stop - origin)
        segs.append(Segment(i, start, stop, first, end, origin))
    return segs


# ---- the work folder: segment files + a manifest, for resume -----------------------------------

@dataclass
class WorkDir:
    """Where segment files live while a run is in progress (under the user cache)."""

    path: Path
    ext: str

    def segment_file(self, seg: Segment) -> Path:
        return self.path / f"seg_{seg.index:05d}{self.ext}"

    def done(self, seg: Segment) -> bool:
        p = self.segment_file(seg)
        return p.is_dir() if self.ext == "" else p.is_file()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def work_path(dst: Path, base: Path | None = None) -> Path:
    """Where the work folder of a run writing ``dst`` lives (whether or not it exists)."""
    digest = hashlib.sha256(str(Path(dst).resolve()).encode()).hexdigest()[:16]
    return (base or cache_root() / "work") / digest


def work_dir_for(dst: Path, key: dict, ext: str, resume: bool, base: Path | None = None) -> WorkDir:
    """The work folder of a run: stable for the same output, input and options.

    ``key`` describes everything that decides the output frames (input identity, options,
    segment plan). With ``resume`` a folder whose manifest matches is reused; a mismatching one
    is an error (the command changed). Without ``resume`` any old folder is cleared.
    """
    path = work_path(dst, base)
    manifest = path / "manifest.json"
    want = {"version": _MANIFEST_VERSION, **key}
    if path.exists():
        if resume:
            try:
                have = json.loads(manifest.read_text())
            except (OSError, ValueError):
                have = None
            if have != want:
                raise InputError(
                    "cannot resume: the input or the options differ from the interrupted run "
                    "(run without --resume to start over)"
                )
            n = sum(1 for p in path.glob("seg_*") if not p.name.endswith(".json"))
            log.warning("resuming: %d completed segment(s) found", n)
            return WorkDir(path, ext)
        shutil.rmtree(path, ignore_errors=True)
    elif resume:
        log.warning("nothing to resume for %s: starting from the beginning", dst.name)
    path.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(want, indent=1, sort_keys=True))
    os.replace(tmp, manifest)
    return WorkDir(path, ext)


def source_identity(info: VideoInfo) -> dict:
    p = info.path.resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def manifest_key(info: VideoInfo, options: dict, segments: list[Segment]) -> dict:
    return {"source": source_identity(info), "options": options,
            "segments": [s.to_json() for s in segments]}


__all__ = ["Segment", "WorkDir", "asdict", "manifest_key", "plan_segments", "work_dir_for",
           "work_path"]
