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

Work folders
------------
A run's segment files live in ``<work root>/<16 hex digits>/`` (the digits name the output
path). The work root is the user cache's ``work/`` unless the caller gives one (the web app
keeps its jobs' work under its ``--data`` folder). While a run uses its folder it holds a lock
on ``.lock`` inside it. At the start of every run, folders under the same root that nobody
holds and that have not changed for ``WORK_MAX_AGE_DAYS`` (7) days are deleted: checkpoints
of failed or interrupted runs do not pile up, and ``--resume`` works for a week. The folder the
starting run itself needs is never pruned, and one locked by another run is never touched.
A finished run removes its folder. ``fluidframes cache`` lists what is kept
(:func:`work_folders`) and ``fluidframes cache clear`` deletes it (:func:`remove_work_folder`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
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
#: Work folders nobody holds and unchanged for this long are deleted when a run starts.
WORK_MAX_AGE_DAYS = 7
_WORK_NAME = re.compile(r"^[0-9a-f]{16}$")  # only folders that look like ours are pruned
_LOCK = ".lock"

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; pruning then relies on the age alone
    fcntl = None  # type: ignore[assignment]


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
    """Where segment files live while a run is in progress (see *Work folders* above)."""

    path: Path
    ext: str
    _lock: object | None = field(default=None, repr=False, compare=False)

    def segment_file(self, seg: Segment) -> Path:
        return self.path / f"seg_{seg.index:05d}{self.ext}"

    def done(self, seg: Segment) -> bool:
        p = self.segment_file(seg)
        return p.is_dir() if self.ext == "" else p.is_file()

    def close(self) -> None:
        """Let go of the folder (it stays, e.g. for ``--resume``); also when this is freed."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # closing the file releases the lock

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.close()


def default_work_root() -> Path:
    return cache_root() / "work"


def _hold(folder: Path):
    """Lock ``folder`` for this run: the open lock file, or None if another run holds it."""
    handle = open(folder / _LOCK, "a")  # noqa: SIM115 - kept open while the run lasts
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _last_change(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
            except OSError:
                pass
    return newest


def prune_work(root: Path, keep: Path | None = None,
               max_age_days: float = WORK_MAX_AGE_DAYS) -> list[Path]:
    """Delete the work folders under ``root`` unchanged for ``max_age_days`` and held by no run
    (never ``keep``); return what was deleted. Best effort: a folder that cannot be checked or
    deleted is left alone."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    cutoff = time.time() - max_age_days * 24 * 3600
    for folder in sorted(root.iterdir()):
        if not _WORK_NAME.match(folder.name) or not folder.is_dir() or folder == keep:
            continue
        try:
            if _last_change(folder) > cutoff:
                continue
        except OSError as exc:
            log.debug("not pruning %s: %s", folder, exc)
            continue
        if remove_work_folder(folder):  # not if another run uses it, however old it looks
            removed.append(folder)
    if removed:
        log.info("pruned %d stale work folder(s) under %s", len(removed), root)
    return removed


def work_path(dst: Path, base: Path | None = None) -> Path:
    """Where the work folder of a run writing ``dst`` lives (whether or not it exists)."""
    digest = hashlib.sha256(str(Path(dst).resolve()).encode()).hexdigest()[:16]
    return (Path(base) if base is not None else default_work_root()) / digest


def work_dir_for(dst: Path, key: dict, ext: str, resume: bool, base: Path | None = None) -> WorkDir:
    """The work folder of a run: stable for the same output, input and options.

    ``base`` is the work root (default: the user cache's ``work/``). Stale folders under it are
    pruned first (:func:`prune_work`). ``key`` describes everything that decides the output
    frames (input identity, options, segment plan). With ``resume`` a folder whose manifest
    matches is reused; a mismatching one is an error (the command changed). Without ``resume``
    any old folder is cleared. A folder that another run holds raises :class:`InputError`.
    """
    path = work_path(dst, base)
    root = path.parent
    prune_work(root, keep=path)
    manifest = path / "manifest.json"
    want = {"version": _MANIFEST_VERSION, **key}
    lock = None
    if path.exists():
        lock = _hold(path)
        if lock is None:
            raise InputError(f"another run is writing {dst.name} right now (its work folder "
                             f"{path} is in use)")
        if resume:
            try:
                have = json.loads(manifest.read_text())
            except (OSError, ValueError):
                have = None
            if isinstance(have, dict):
                have.pop("output", None)  # informational (for `fluidframes cache`)
            if have != want:
                raise InputError(
                    "cannot resume: the input or the options differ from the interrupted run "
                    "(run without --resume to start over)"
                )
            n = sum(1 for p in path.glob("seg_*") if not p.name.endswith(".json"))
            log.warning("resuming: %d completed segment(s) found", n)
            return WorkDir(path, ext, lock)
        for old in path.iterdir():  # clear it, keeping the lock file we hold
            if old.name != _LOCK:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
    elif resume:
        log.warning("nothing to resume for %s: starting from the beginning", dst.name)
    path.mkdir(parents=True, exist_ok=True)
    if lock is None:
        lock = _hold(path)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps({**want, "output": str(dst.resolve())}, indent=1,
                              sort_keys=True))
    os.replace(tmp, manifest)
    return WorkDir(path, ext, lock)


@dataclass
class WorkFolder:
    """A work folder as ``fluidframes cache`` shows it."""

    path: Path
    size: int  # bytes
    last_change: float  # seconds since the epoch (the newest file)
    in_use: bool  # a running job holds its lock
    input: str | None = None  # from the manifest (None: unreadable)
    output: str | None = None
    segments_done: int = 0
    segments_total: int | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def _in_use(folder: Path) -> bool:
    try:
        held = _hold(folder)
    except OSError:
        return False
    if held is None:
        return True
    held.close()
    return False


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def work_folders(root: Path | None = None) -> list[WorkFolder]:
    """The work folders under ``root`` (default: the user cache's), oldest change first."""
    root = Path(root) if root is not None else default_work_root()
    out = []
    if not root.is_dir():
        return out
    for folder in root.iterdir():
        if not _WORK_NAME.match(folder.name) or not folder.is_dir():
            continue
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = {}
        try:
            changed = _last_change(folder)
        except OSError:
            continue
        done = sum(1 for p in folder.glob("seg_*") if not p.name.endswith(".json"))
        total = manifest.get("segments") if isinstance(manifest, dict) else None
        source = manifest.get("source") if isinstance(manifest, dict) else None
        out.append(WorkFolder(
            folder, _size(folder), changed, _in_use(folder),
            input=source.get("path") if isinstance(source, dict) else None,
            output=manifest.get("output") if isinstance(manifest, dict) else None,
            segments_done=done, segments_total=len(total) if isinstance(total, list) else None))
    return sorted(out, key=lambda w: w.last_change)


def remove_work_folder(folder: Path) -> bool:
    """Delete one work folder unless a running job holds it; True if it was deleted."""
    try:
        held = _hold(folder)
    except OSError:
        return False
    if held is None:
        return False
    try:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        held.close()
    return not folder.exists()


def source_identity(info: VideoInfo) -> dict:
    p = info.path.resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def manifest_key(info: VideoInfo, options: dict, segments: list[Segment]) -> dict:
    return {"source": source_identity(info), "options": options,
            "segments": [s.to_json() for s in segments]}


__all__ = ["WORK_MAX_AGE_DAYS", "Segment", "WorkDir", "WorkFolder", "asdict",
           "default_work_root", "manifest_key", "plan_segments", "prune_work",
           "remove_work_folder", "work_dir_for", "work_folders", "work_path"]
