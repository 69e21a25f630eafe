"""Every input gets a right answer: the CLI on each corpus file (tests/fuzz/corpus.py).

For each: exit code 0 or 2 as the case expects (never 1), stderr at most two lines and never a
traceback (a refusal is exactly one 'fluidframes: error:' line), the input unchanged, and on
failure nothing under the output name (nor a hidden temp file beside it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _corpus import build
from _media import needs_ffmpeg

pytestmark = needs_ffmpeg

SRC = Path(__file__).resolve().parents[2] / "src"
NAMES = [
    "zero_byte", "text_as_mp4",
    "truncated_faststart_10", "truncated_faststart_30", "truncated_faststart_70",
    "truncated_moov_last_30", "truncated_moov_last_70", "truncated_moov_last_97",
    "truncated_faststart_99", "corrupt_middle", "truncated_mkv",
    "png_as_mp4", "one_frame_mp4", "folder_one_image", "vfr_mkv", "odd_3x3", "odd_5x7",
    "audio_only", "ten_bit", "rotated", "huge_fps_real", "huge_fps_declared",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build(tmp_path_factory.mktemp("corpus"))


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "fluidframes.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def stderr_lines(text: str) -> list[str]:
    """What a user reads on stderr: progress-bar redraws left out."""
    parts = text.replace("\r", "\n").splitlines()
    return [ln for ln in parts if ln.strip() and "frame/s" not in ln and "%|" not in ln]


def check_answer(r: subprocess.CompletedProcess, expect: str, out: Path) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    lines = stderr_lines(r.stderr)
    allowed = {"ok": {0}, "refused": {2}, "either": {0, 2}}[expect]
    assert r.returncode in allowed, (r.returncode, lines)
    assert len(lines) <= 2, lines
    if r.returncode != 0:
        assert len(lines) == 1 and lines[0].startswith("fluidframes: error:"), lines
        assert not out.exists()
        if out.parent.exists():
            assert [p.name for p in out.parent.iterdir()] == []
    else:
        assert out.is_file() and out.stat().st_size > 0


@pytest.mark.parametrize("name", NAMES)
def test_cli_answers_every_input(tmp_path, corpus, model_file, name) -> None:
    case = corpus[name]
    before = _digest(case.path)
    out = tmp_path / "out" / "x.mp4"
    r = run_cli("interpolate", str(case.path), "--model-file", model_file, "-o", str(out))
    check_answer(r, case.expect, out)
    assert _digest(case.path) == before  # the input is never modified


def test_corpus_is_complete(corpus) -> None:
    assert sorted(corpus) == sorted(NAMES)


# Bad option VALUES: refused by the options model (options.py) before anything is read or
# written, as one line with exit 2 (once known failures, kept as regressions).
BAD_OPTIONS = [
    ["--crf", "99"],
    ["--crf", "-1"],
    ["--segment-seconds", "nan"],
    ["--segment-seconds", "-1"],
    ["--scene-threshold", "nan"],
    ["--scene-threshold", "-1"],
    ["--multi", "1"],
    ["--multi", "100000000"],
    ["--multi", "99999999999999999999"],
    ["--multi", "1e20"],
    ["--exp", "40"],
    ["--exp", "64"],
    ["--fps", "100000000"],
    ["--fps", "nan"],
    ["--threads", "0"],
    ["--workers", "-3"],
    ["--scale", "3"],
    ["--precision", "fp8"],
    ["--device", "tpu"],
    ["--multi", "2", "--exp", "2"],
    ["--ext", "avi"],
]


@pytest.mark.parametrize("opts", BAD_OPTIONS, ids=lambda o: " ".join(o))
def test_bad_option_values_are_refused(tmp_path, corpus, model_file, opts) -> None:
    out = tmp_path / "out" / "x.mp4"
    r = run_cli("interpolate", str(corpus["rotated"].path), "--model-file", model_file,
                "-o", str(out), *opts, timeout=60)
    check_answer(r, "refused", out)


def test_hostile_rate_text_is_refused_in_one_line(tmp_path, corpus, model_file) -> None:
    out = tmp_path / "out" / "x.mp4"
    r = run_cli("interpolate", str(corpus["rotated"].path), "--model-file", model_file,
                "-o", str(out), "--fps", "9" * 5000)
    check_answer(r, "refused", out)
