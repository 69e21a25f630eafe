"""Odd frame sizes survive where the format allows it; where 4:2:0 forces even sizes, a warning
names both sizes. Checked with ffprobe."""

from __future__ import annotations

from pathlib import Path

import pytest

from _media import ffmpeg, ffprobe, needs_ffmpeg, video_stream

from fluidframes.pipeline import interpolate_video

pytestmark = needs_ffmpeg


def _size(path: Path) -> tuple[int, int, str]:
    s = video_stream(ffprobe(path))
    return s["width"], s["height"], s["pix_fmt"]


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("odd")
    out = {}
    for w, h in ((3, 3), (5, 7)):
        out[f"{w}x{h}"] = tmp / f"odd{w}x{h}.mkv"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "8",
               "-vf", f"scale={w}:{h}", "-c:v", "libx264", "-pix_fmt", "yuv444p",
               str(out[f"{w}x{h}"]))
    return out


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov", "webm"])
def test_3x3_stays_3x3_in_every_container(tmp_path, odd, model_file, ext) -> None:
    dst = tmp_path / f"o.{ext}"
    s = interpolate_video(odd["3x3"], dst, model_file=model_file, multi=2)
    assert _size(dst)[:2] == (3, 3)
    notes = [w for w in s.warnings if "3x3" in w]
    if ext == "webm":  # VP9 codes odd sizes in 4:2:0: nothing to say
        assert notes == [] and _size(dst)[2] == "yuv420p"
    else:
        assert len(notes) == 1 and "4:4:4" in notes[0] and _size(dst)[2] == "yuv444p"


def test_5x7_mp4_keeps_its_size(tmp_path, odd, model_file) -> None:
    dst = tmp_path / "o.mp4"
    interpolate_video(odd["5x7"], dst, model_file=model_file, multi=2)
    assert _size(dst)[:2] == (5, 7)


def test_forced_420_pads_and_says_both_sizes(tmp_path, odd, model_file) -> None:
    dst = tmp_path / "o.mp4"
    s = interpolate_video(odd["5x7"], dst, model_file=model_file, multi=2, pix_fmt="yuv420p")
    assert _size(dst) == (6, 8, "yuv420p")
    notes = [w for w in s.warnings if "5x7" in w]
    assert len(notes) == 1 and "6x8" in notes[0]
