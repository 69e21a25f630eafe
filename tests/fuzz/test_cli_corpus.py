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
from _corpus import PARTIAL, build, record
from _media import ffprobe, needs_ffmpeg, video_stream

pytestmark = [needs_ffmpeg, pytest.mark.slow]  # a CLI process per case (~2-5 s)

SRC = Path(__file__).resolve().parents[2] / "src"
NAMES = [
    "zero_byte", "text_as_mp4",
    "truncated_faststart_10", "truncated_faststart_30", "truncated_faststart_70",
    "truncated_moov_last_30", "truncated_moov_last_70", "truncated_moov_last_97",
    "truncated_faststart_99", "corrupt_middle", "truncated_mkv", "corrupt_packet_mkv",
    "png_as_mp4", "one_frame_mp4", "folder_one_image", "two_frames_mp4", "vfr_mkv", "odd_3x3",
    "odd_5x7", "tiny_2x2", "strip_4096x8", "audio_only", "ten_bit", "alpha_mov",
    "interlaced_flags", "many_tracks_mkv", "gif", "rotated", "huge_fps_real",
    "huge_fps_declared", "folder_mixed_sizes", "folder_with_junk", "folder_images_and_text",
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


def check_answer(r: subprocess.CompletedProcess, expect: str, out: Path, case: str = "",
                 kind: str = "corpus") -> None:
    tb = "Traceback" in r.stderr
    lines = stderr_lines(r.stderr)
    record(kind, case, r.returncode, lines, traceback=tb,
           correct=(_correct(r, out) if r.returncode == 0 else None))
    assert not tb, r.stderr
    allowed = {"ok": {0}, "refused": {2}, "either": {0, 2}}[expect]
    assert r.returncode in allowed, (r.returncode, lines)
    if r.returncode != 0:
        assert len(lines) == 1 and lines[0].startswith("fluidframes: error:"), lines
        assert not out.exists()
        if out.parent.exists():
            assert [p.name for p in out.parent.iterdir()] == []
    else:
        assert not _problems(r, out), _problems(r, out)


def _correct(r: subprocess.CompletedProcess, out: Path) -> bool:
    return not _problems(r, out)


def _problems(r: subprocess.CompletedProcess, out: Path) -> list[str]:
    """What is wrong with an exit-0 output: ffprobe must count the frames the summary reports,
    the output must last what the summary expects (within a frame), the A/V check must pass,
    and a plain 2x run must have about twice the frames."""
    import json
    from fractions import Fraction

    if not (out.is_file() and out.stat().st_size > 0):
        return ["no output"]
    s = json.loads(r.stdout)
    v = video_stream(ffprobe(out, count_frames=True))
    frame = 1 / float(Fraction(s["output_rate"]))
    bad = []
    if int(v["nb_read_frames"]) != s["frames_out"]:
        bad.append(f"ffprobe counts {v['nb_read_frames']} frames, summary {s['frames_out']}")
    if abs(s["output_duration"] - s["expected_duration"]) > 1.5 * frame:
        bad.append(f"lasts {s['output_duration']} s, expected {s['expected_duration']} s")
    if s["in_sync"] is False:
        bad.append(f"A/V out of sync by {s['av_sync_error']}")
    if not s["vfr"] and not s["partial"] and s["duplicates_dropped"] == 0:
        if abs(s["frames_out"] - 2 * s["frames_in"]) > 2:
            bad.append(f"{s['frames_in']} -> {s['frames_out']} frames is not 2x")
    return bad


@pytest.mark.parametrize("name", NAMES)
def test_cli_answers_every_input(tmp_path, corpus, model_file, name) -> None:
    case = corpus[name]
    before = _digest(case.path)
    out = tmp_path / "out" / "x.mp4"
    r = run_cli("interpolate", str(case.path), "--model-file", model_file, "-o", str(out),
                "--json")
    check_answer(r, case.expect, out, name)
    assert _digest(case.path) == before  # the input is never modified


@pytest.mark.parametrize("name", sorted(PARTIAL))
def test_allow_partial_keeps_what_decodes_and_says_so(tmp_path, corpus, model_file,
                                                      name) -> None:
    case = corpus[name]
    before = _digest(case.path)
    out = tmp_path / "out" / "x.mp4"
    r = run_cli("interpolate", str(case.path), "--model-file", model_file, "-o", str(out),
                "--json", "--allow-partial")
    check_answer(r, PARTIAL[name], out, name, kind="allow-partial")
    if r.returncode == 0:
        import json

        s = json.loads(r.stdout)
        assert s["partial"] or name == "truncated_faststart_99"
        if s["partial"]:  # never silent, even with --json
            assert any(ln.startswith("warning:") and "partial input" in ln
                       for ln in stderr_lines(r.stderr))
    assert _digest(case.path) == before


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
    check_answer(r, "refused", out, " ".join(opts), kind="bad-option")


def test_hostile_rate_text_is_refused_in_one_line(tmp_path, corpus, model_file) -> None:
    out = tmp_path / "out" / "x.mp4"
    r = run_cli("interpolate", str(corpus["rotated"].path), "--model-file", model_file,
                "-o", str(out), "--fps", "9" * 5000)
    check_answer(r, "refused", out, "--fps 9*5000", kind="bad-option")
