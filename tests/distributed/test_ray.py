"""Segments on a local Ray cluster (2 CPUs): identity, batch, a killed worker, resume after kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _media import assert_same_video, make_clip
from PIL import Image

from fluidframes.errors import CancelledError
from fluidframes.pipeline import interpolate_video

OPTS = {"multi": 2, "segment_seconds": 0.5}
SLOW = {"multi": 4, "segment_seconds": 1.0}  # longer segments: room to kill a worker mid-way


@pytest.fixture(scope="module")
def reference(ray_cluster, bbb_clip, model_file, tmp_path_factory):
    """The single-process (no Ray) results the Ray runs must reproduce."""
    folder = tmp_path_factory.mktemp("ref")
    out = {}
    for name, opts in (("fast", OPTS), ("slow", SLOW)):
        dst = folder / f"{name}.mp4"
        s = interpolate_video(bbb_clip, dst, model_file=str(model_file), **opts)
        assert s.segments >= 3 and s.in_sync
        out[name] = (dst, s)
    return out


def test_ray_output_identical_to_single_process(reference, bbb_clip, model_file, tmp_path):
    ref, ref_summary = reference["fast"]
    events = []
    s = interpolate_video(bbb_clip, tmp_path / "ray.mp4", model_file=str(model_file), workers=2,
                          progress=events.append, **OPTS)
    assert s.segments == ref_summary.segments and s.frames_out == ref_summary.frames_out
    assert s.in_sync, s.av_sync_error
    assert_same_video(ref, tmp_path / "ray.mp4")
    # x264 at the same settings is deterministic, and the join is a packet copy: same bytes
    assert_same_video(tmp_path / "ray.mp4", ref)
    assert events and events[-1].frames_out == s.frames_out  # one progress stream, complete
    assert len(events) >= 2
    assert not list(tmp_path.glob(".*"))  # no temporary files left beside the output


def test_segments_join_without_seams_png(ray_cluster, bbb_clip, model_file, tmp_path):
    """Lossless check of the seams: segmented on Ray == one segment in one process."""
    one = interpolate_video(bbb_clip, tmp_path / "one", png=True, multi=2, segment_seconds=0,
                            model_file=str(model_file))
    seg = interpolate_video(bbb_clip, tmp_path / "seg", png=True, workers=2,
                            model_file=str(model_file), **OPTS)
    assert one.segments == 1 and seg.segments >= 3
    a, b = sorted((tmp_path / "one").glob("*.png")), sorted((tmp_path / "seg").glob("*.png"))
    assert [p.name for p in a] == [p.name for p in b] and len(a) == one.frames_out
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(Image.open(x)), np.asarray(Image.open(y))), x.name


def test_batch_of_three_files_and_a_broken_one(ray_cluster, model_file, tmp_path, capsys):
    from fluidframes.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        make_clip(folder / f"clip{i}.mp4", seconds=1.5, tone=300 + 100 * i, gop=12, crf=14)
    (folder / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    rc = main(["interpolate", str(folder), "-o", str(out), "--multi", "2", "--workers", "2",
               "--segment-seconds", "0.5", "--model-file", str(model_file), "--json"])
    assert rc == 2  # the broken file is an input error; the others still ran
    items = {Path(it["input"]).name: it for it in json.loads(capsys.readouterr().out)}
    assert set(items) == {"clip0.mp4", "clip1.mp4", "clip2.mp4", "broken.mp4"}
    assert not items["broken.mp4"]["ok"] and "not a video" in items["broken.mp4"]["error"]
    for i in range(3):
        it = items[f"clip{i}.mp4"]
        assert it["ok"], it["error"]
        s = it["summary"]
        assert s["frames_out"] == 72 and s["segments"] == 3 and s["in_sync"]
        assert s["device"] == "ray" and s["threads"] == 1  # each worker holds one CPU
        assert Path(it["output"]) == out / f"clip{i}_2X_48fps.mp4"
    assert sorted(p.name for p in out.iterdir()) == [f"clip{i}_2X_48fps.mp4" for i in range(3)]


def test_killed_worker_segment_is_retried(reference, bbb_clip, model_file, tmp_path):
    from fluidframes.executors.ray import RayExecutor
    from fluidframes.options import ModelConfig

    ref, _ = reference["slow"]
    pool = RayExecutor(ModelConfig(model_file=str(model_file)), workers=2).pool
    killed: list[int] = []

    def on_progress(p) -> None:  # runs on the dispatcher thread
        if killed:
            return
        for index, pid, frames in pool.running():
            if pid and frames > 0:  # this worker is in the middle of a segment
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return

    s = interpolate_video(bbb_clip, tmp_path / "out.mp4", model_file=str(model_file),
                          workers=2, progress=on_progress, **SLOW)
    assert killed, "no segment was caught mid-way"
    assert killed[0] not in pool.worker_pids()  # Ray restarted that worker process
    assert s.frames_out == reference["slow"][1].frames_out
    assert_same_video(tmp_path / "out.mp4", ref)


def test_cancel_keeps_completed_segments(ray_cluster, bbb_clip, model_file, tmp_path):
    import threading

    cancel = threading.Event()

    def on_progress(p) -> None:
        if p.frames_out >= 230:  # at least one ~105-frame segment complete (2 in flight)
            cancel.set()

    with pytest.raises(CancelledError, match="--resume"):
        interpolate_video(bbb_clip, tmp_path / "out.mp4", model_file=str(model_file), workers=2,
                          progress=on_progress, cancel=cancel, **SLOW)
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.iterdir())


def _kill_session(sid: int) -> None:
    """kill -9 every process of a session: the driver, the Ray daemons and the Ray workers
    (workers run in process groups of their own, so killpg alone would leave them running)."""
    for _ in range(50):
        victims = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    zombie = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                    if os.getsid(int(entry)) == sid and not zombie:
                        victims.append(int(entry))
                except OSError:
                    continue
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"processes of session {sid} survive kill -9")


def _work_dir(cache: Path, dst: Path) -> Path:
    return cache / "work" / hashlib.sha256(str(dst.resolve()).encode()).hexdigest()[:16]


@pytest.mark.parametrize("ray_workers", [None, 2], ids=["single-process", "ray"])
def test_resume_after_kill9_is_identical(reference, ray_cluster, bbb_clip, model_file, tmp_path,
                                         ray_workers, capsys):
    from fluidframes.cli import main

    ref, ref_summary = reference["slow"]
    dst = tmp_path / "out.mp4"
    args = ["interpolate", str(bbb_clip), "-o", str(dst), "--multi", str(SLOW["multi"]),
            "--segment-seconds", str(SLOW["segment_seconds"]), "--model-file", str(model_file)]
    if ray_workers:
        args += ["--workers", str(ray_workers)]
    cmd = [sys.executable, "-m", "fluidframes.cli", *args, "--quiet"]
    env = {**os.environ, "FLUIDFRAMES_CACHE": str(ray_cluster)}
    work = _work_dir(ray_cluster, dst)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if any(not p.name.startswith(".") for p in work.glob("seg_*.mp4")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        _kill_session(proc.pid)  # like a power loss: everything of that run dies at once
        proc.wait(10)
    finally:
        if proc.poll() is None:
            _kill_session(proc.pid)
    assert not dst.exists()
    done = [p for p in work.glob("seg_*.mp4") if not p.name.startswith(".")]
    assert 1 <= len(done) < ref_summary.segments
    # the same command plus --resume (in this process: its Ray is the fixture's local one)
    assert main([*args, "--resume", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["segments_resumed"] == len(done)
    assert s["frames_out"] == ref_summary.frames_out
    assert_same_video(ref, dst)
    assert_same_video(dst, ref)
    assert not work.exists()  # the work folder goes once the output is written


def test_threads_reach_the_ray_workers(ray_cluster, bbb_clip, model_file, tmp_path):
    # an explicit --threads is what each worker's model runs with (default: its CPU share)
    from fluidframes.executors import ray as ray_exec
    from fluidframes.executors.ray import RayExecutor
    from fluidframes.options import ModelConfig

    ray_exec.close_pools()  # free the cluster's 2 CPUs for a pool with other settings
    try:
        ex = RayExecutor(ModelConfig(model_file=str(model_file), threads=2), workers=1)
        assert [i["threads"] for i in ex.pool.info] == [2]
        s = interpolate_video(bbb_clip, tmp_path / "t.mp4", model_file=str(model_file),
                              threads=2, workers=1, **OPTS)
        assert s.threads == 2 and s.device == "ray"
    finally:
        ray_exec.close_pools()
