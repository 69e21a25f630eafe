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

import bisect
import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from ._wheels import cache_root
from .errors import InputError, MediaInputError
from .options import fmt_time
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
                  single: bool = False,
                  window: tuple[Fraction, Fraction | None] | None = None) -> list[Segment]:
    """Cut the clip at keyframes into segments of about ``seconds`` of source each.

    ``window`` (start, end), seconds from the clip's first frame (end None: to the clip's end),
    plans only that part (--start/--duration): output step 0 is the source at ``start`` (the
    time origin of the plan), the first segment decodes from the frame on screen at ``start``,
    and the last one renders up to ``end`` (interpolating towards the first frame after it).
    """
    if window is None and (single or seconds is None or seconds <= 0):
        return [Segment(0, Fraction(0), None, 0, None)]
    frames = scan_frames(info)
    if window is None and len(frames) < 2:
        return [Segment(0, Fraction(0), None, 0, None)]
    if not frames:
        raise MediaInputError(f"zero frames in {info.path}")
    pts = [p for p, _ in frames]
    first = pts[0]
    lo, hi, origin, last_end = 0, len(frames), first, None
    if window is not None:
        start, end = window
        clip_end = pts[-1] + 1 / info.rate  # where the timing plan ends the clip
        origin = first + start
        if origin >= clip_end:
            raise InputError(f"start {fmt_time(start)} s is past the end of {info.path.name} "
                             f"({fmt_time(clip_end - first)} s)")
        lo = bisect.bisect_right(pts, origin) - 1 if origin >= first else 0
        if end is not None and first + end < clip_end:
            hi = bisect.bisect_left(pts, first + end)
            last_end = plan.count_for(end - start)
    target = Fraction(seconds).limit_denominator(1000) if seconds and not single else None
    starts = [pts[lo]]
    for p, key in frames[lo + 1 : hi]:
        # a cut needs a keyframe and enough source since the last cut; never cut in the
        # final frame (the last segment must have a pair to work on)
        if (target is not None and key and p > origin and p - starts[-1] >= target
                and p < pts[hi - 1]):
            starts.append(p)
    segs = []
    for i, seg_start in enumerate(starts):
        last = i + 1 == len(starts)
        stop = (pts[hi] if hi < len(pts) else None) if last else starts[i + 1]
        first_step = 0 if i == 0 else plan.first_step_at(seg_start - origin)
        end_step = last_end if last else plan.first_step_at(starts[i + 1] - origin)
        segs.append(Segment(i, seg_start, stop, first_step, end_step, origin))
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
