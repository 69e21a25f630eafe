"""``fluidframes cache`` and ``cache clear``: work folders kept for --resume, models and samples,
with sizes and ages; a work folder a running job holds is never deleted; a finished run leaves
no work folder behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from _media import ffmpeg, needs_ffmpeg

from fluidframes.cli import main
from fluidframes.pipeline import interpolate_video
from fluidframes.segments import work_dir_for, work_folders

DAY = 24 * 3600


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("FLUIDFRAMES_CACHE", str(root))
    (root / "models").mkdir(parents=True)
    (root / "models" / "rife-x-0123.pkl").write_bytes(b"w" * 3000)
    (root / "samples").mkdir()
    (root / "samples" / "clip.mp4").write_bytes(b"v" * 500)
    return root


def _interrupted(tmp_path: Path, name: str, days: float = 0, segments: int = 3) -> Path:
    """A work folder as an interrupted run leaves it: one of ``segments`` finished."""
    key = {"source": {"path": str(tmp_path / "in.mp4")},
           "segments": [{"index": i} for i in range(segments)]}
    w = work_dir_for(tmp_path / name, key, ".mp4", False)
    (w.path / "seg_00000.mp4").write_bytes(b"s" * 1000)
    w.close()
    t = time.time() - days * DAY
    for p in [*w.path.iterdir(), w.path]:
        os.utime(p, (t, t))
    return w.path


def _cli_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["cache", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_list_shows_work_folders_models_and_samples_with_sizes(tmp_path, cache, capsys):
    folder = _interrupted(tmp_path, "out.mp4", days=2)
    inv = _cli_json(capsys)
    assert inv["work_root"] == str(cache / "work")
    [w] = inv["work"]
    assert w["path"] == str(folder) and w["size"] >= 1000 and not w["in_use"]
    assert (w["segments_done"], w["segments_total"]) == (1, 3)
    assert w["output"] == str((tmp_path / "out.mp4").resolve())
    assert w["input"] == str(tmp_path / "in.mp4")
    assert time.time() - w["last_change"] == pytest.approx(2 * DAY, abs=60)
    assert [m["name"] for m in inv["models"]] == ["rife-x-0123.pkl"]
    assert inv["sizes"]["models"] == 3000 and inv["sizes"]["samples"] == 500
    assert inv["total"] == sum(inv["sizes"].values())

    assert main(["cache"]) == 0
    text = capsys.readouterr().out
    assert "1/3 segments" in text and "in.mp4 -> out.mp4" in text and "2 d ago" in text
    assert "rife-x-0123.pkl" in text and "3.0 KB" in text and "clip.mp4" in text


def test_clear_never_deletes_a_folder_in_use(tmp_path, cache, capsys):
    idle = _interrupted(tmp_path, "a.mp4")
    busy = work_dir_for(tmp_path / "b.mp4", {"k": 1}, ".mp4", False)  # a running job holds it
    try:
        assert [w.in_use for w in work_folders()] == [False, True]
        result = _cli_json(capsys, "clear")
        assert result["in_use"] == [str(busy.path)] and busy.path.is_dir()
        assert str(idle) in result["removed"] and not idle.exists()
        assert not (cache / "models" / "rife-x-0123.pkl").exists()
        assert not (cache / "samples" / "clip.mp4").exists()
        assert main(["cache", "clear"]) == 0
        assert "kept" in capsys.readouterr().err  # said so, on stderr
    finally:
        busy.remove()


def test_clear_work_only_and_older_than(tmp_path, cache, capsys):
    old = _interrupted(tmp_path, "old.mp4", days=6)  # (7 days: pruned by the next run)
    new = _interrupted(tmp_path, "new.mp4", days=1)
    result = _cli_json(capsys, "clear", "--work-only", "--older-than", "5")
    assert result["removed"] == [str(old)] and result["freed"] >= 1000
    assert not old.exists() and new.exists()
    assert (cache / "models" / "rife-x-0123.pkl").exists()  # --work-only
    assert main(["cache", "clear", "--work-only"]) == 0
    assert not new.exists() and (cache / "samples" / "clip.mp4").exists()
    assert "removed 1 item(s)" in capsys.readouterr().out


def test_a_server_work_root_is_listed_with_work_root(tmp_path, cache, capsys):
    root = tmp_path / "data" / "work"
    w = work_dir_for(tmp_path / "r.mp4", {"k": 1}, ".mp4", False, base=root)
    w.close()
    assert _cli_json(capsys)["work"] == []
    assert [x["path"] for x in _cli_json(capsys, "--work-root", str(root))["work"]] == [
        str(w.path)]


@pytest.mark.parametrize("args, message", [
    (["clear", "--older-than", "-1"], "--older-than must be"),
    (["clear", "--older-than", "nan"], "--older-than must be"),
    (["--work-root", "/nonexistent/work"], "no such folder"),
    (["--older-than", "3"], "go with `cache clear`"),
])
def test_bad_values_are_one_line_exit_2(cache, capsys, args, message):
    assert main(["cache", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("fluidframes: error:")


@needs_ffmpeg
def test_a_finished_run_leaves_no_work_folder(tmp_path, cache, model_file, capsys):
    src = tmp_path / "c.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "30",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "8", str(src))
    s = interpolate_video(src, tmp_path / "o.mp4", model_file=model_file, multi=2,
                          segment_seconds=0.4)
    assert s.segments > 1 and (tmp_path / "o.mp4").is_file()
    assert _cli_json(capsys)["work"] == [] and not any((cache / "work").iterdir())
