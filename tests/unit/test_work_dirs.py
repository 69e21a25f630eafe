"""Work folders (segment checkpoints): a chosen root, and stale ones pruned at the start of a run
but never the one in use."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from _media import ffmpeg, needs_ffmpeg

from fluidframes import segments
from fluidframes.pipeline import interpolate_video
from fluidframes.segments import WORK_MAX_AGE_DAYS, work_dir_for

DAY = 24 * 3600


def _old_folder(root: Path, name: str, days: float) -> Path:
    d = root / name
    (d / "seg_00000.mp4").parent.mkdir(parents=True, exist_ok=True)
    (d / "seg_00000.mp4").write_bytes(b"x")
    (d / "manifest.json").write_text("{}")
    t = time.time() - days * DAY
    for p in (d / "seg_00000.mp4", d / "manifest.json", d):
        os.utime(p, (t, t))
    return d


def test_work_root_parameter_puts_the_folder_there(tmp_path) -> None:
    root = tmp_path / "data" / "work"
    w = work_dir_for(tmp_path / "out.mp4", {"k": 1}, ".mp4", False, base=root)
    assert w.path.parent == root and (w.path / "manifest.json").is_file()
    w.remove()


def test_stale_folders_are_pruned_but_not_fresh_or_in_use_ones(tmp_path) -> None:
    root = tmp_path / "work"
    assert WORK_MAX_AGE_DAYS == 7
    stale = _old_folder(root, "0123456789abcdef", WORK_MAX_AGE_DAYS + 1)
    fresh = _old_folder(root, "fedcba9876543210", WORK_MAX_AGE_DAYS - 1)
    busy = _old_folder(root, "00000000000000ff", WORK_MAX_AGE_DAYS + 30)
    other = _old_folder(root, "not-a-work-folder", 100)  # not ours: never touched
    with open(busy / ".lock", "a") as held:  # another run holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        w = work_dir_for(tmp_path / "out.mp4", {"k": 1}, ".mp4", False, base=root)
    assert not stale.exists()
    assert fresh.exists() and busy.exists() and other.exists() and w.path.exists()
    w.remove()


def test_the_folder_a_resume_needs_is_never_pruned(tmp_path) -> None:
    root = tmp_path / "work"
    dst = tmp_path / "out.mp4"
    first = work_dir_for(dst, {"k": 1}, ".mp4", False, base=root)
    (first.path / "seg_00000.mp4").write_bytes(b"done")
    first.close()  # the interrupted run is gone
    t = time.time() - (WORK_MAX_AGE_DAYS + 3) * DAY
    for p in [first.path, *first.path.iterdir()]:
        os.utime(p, (t, t))
    again = work_dir_for(dst, {"k": 1}, ".mp4", True, base=root)
    assert (again.path / "seg_00000.mp4").read_bytes() == b"done"
    again.remove()


def test_a_folder_in_use_by_another_run_is_not_cleared(tmp_path) -> None:
    root = tmp_path / "work"
    dst = tmp_path / "out.mp4"
    running = work_dir_for(dst, {"k": 1}, ".mp4", False, base=root)
    (running.path / "seg_00000.mp4").write_bytes(b"busy")
    with pytest.raises(Exception, match="another run"):
        work_dir_for(dst, {"k": 1}, ".mp4", False, base=root)
    assert (running.path / "seg_00000.mp4").exists()
    running.remove()


@needs_ffmpeg
def test_a_run_uses_the_work_root_and_prunes_at_start(tmp_path, model_file) -> None:
    src = tmp_path / "c.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "6",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src))
    root = tmp_path / "data" / "work"
    stale = _old_folder(root, "0123456789abcdef", WORK_MAX_AGE_DAYS + 1)
    seen: list[list[str]] = []
    interpolate_video(src, tmp_path / "o.mp4", model_file=model_file, multi=2, work_root=root,
                      progress=lambda p: seen.append(sorted(x.name for x in root.iterdir())))
    assert not stale.exists()
    assert any(len(names) == 1 and len(names[0]) == 16 for names in seen)  # ours, under root
    assert list(root.iterdir()) == []  # removed when done
    assert segments.default_work_root() != root


@needs_ffmpeg
def test_a_stopped_run_lets_go_of_its_folder(tmp_path, model_file) -> None:
    # found by test_trim: the lock of a cancelled run's kept folder outlived the run, so a
    # --resume in the same process (the web app, the API) was told another run held it
    import threading

    from fluidframes.errors import CancelledError

    src = tmp_path / "c.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "96",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "8", str(src))
    cancel = threading.Event()
    opts = dict(model_file=model_file, multi=2, segment_seconds=0.4, work_root=tmp_path / "w")

    def stop(p):
        if p.frames_out >= 60:
            cancel.set()

    with pytest.raises(CancelledError, match="--resume"):
        interpolate_video(src, tmp_path / "o.mp4", progress=stop, cancel=cancel, **opts)
    s = interpolate_video(src, tmp_path / "o.mp4", resume=True, **opts)
    assert s.segments_resumed >= 1 and s.frames_out == 192
