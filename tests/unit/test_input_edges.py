"""Inputs that used to get a wrong answer: VFR rates, damaged/truncated files, one-frame files.

Media is made with FFmpeg's CLI (an independent generator) and outputs are read back with
ffprobe; runs use the tiny random-weight model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest

from _media import ffmpeg, ffprobe, needs_ffmpeg

from fluidframes.errors import DamagedInputError, MediaInputError
from fluidframes.pipeline import interpolate_video
from fluidframes.video import probe, read_frames

pytestmark = needs_ffmpeg
SRC = Path(__file__).resolve().parents[2] / "src"


def video_stream(path: Path) -> dict:
    """ffprobe's first video stream, with ``nb_read_frames``."""
    return next(s for s in ffprobe(path, count_frames=True)["streams"]
                if s["codec_type"] == "video")


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "fluidframes.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("media")
    m = {"vfr": tmp / "vfr.mkv", "full": tmp / "full.mp4"}
    # 24 fps for 1 s, then 30 fps for 1 s: 54 frames, r_frame_rate 120 (the common timebase)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=1",
           "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=1",
           "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
           "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(m["vfr"]))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-c:a", "aac",
           "-movflags", "+faststart", str(m["full"]))
    data = m["full"].read_bytes()
    m["cut"] = tmp / "cut30.mp4"
    m["cut"].write_bytes(data[: int(len(data) * 0.3)])
    with av.open(str(m["full"])) as c:  # cut through the middle of video packet 10
        pkt = [p for p in c.demux(c.streams.video[0]) if p.size][10]
        cut_at = pkt.pos + pkt.size // 2
    m["cut_packet"] = tmp / "cut_in_a_packet.mp4"
    m["cut_packet"].write_bytes(data[:cut_at])
    bad = bytearray(data)
    for i in range(int(len(bad) * 0.45), int(len(bad) * 0.55)):
        bad[i] = (i * 7919) % 256
    m["corrupt"] = tmp / "corrupt.mp4"
    m["corrupt"].write_bytes(bytes(bad))
    return m


# ---- VFR ---------------------------------------------------------------------------------------

def test_vfr_rate_is_the_most_common_interval_not_the_timebase(media) -> None:
    assert video_stream(media["vfr"])["r_frame_rate"] == "120/1"  # what fooled us
    info = probe(media["vfr"])
    assert info.vfr and info.rate == 30 and info.frame_count == 54
    assert any("variable frame rate" in n and "30" in n for n in info.notes)


def test_vfr_multi_2_doubles_a_standard_rate(tmp_path, media, model_file) -> None:
    dst = tmp_path / "vfr_x2.mkv"
    s = interpolate_video(media["vfr"], dst, model_file=model_file, multi=2)
    v = video_stream(dst)
    assert v["r_frame_rate"] == "60/1"
    # about 2x the 54 source frames on the real timestamps: 2.0 s at 60 fps (+1 for the
    # millisecond rounding of the last timestamp), not 475 frames at 240 fps
    assert int(v["nb_read_frames"]) == s.frames_out and 118 <= s.frames_out <= 121
    assert s.vfr and Fraction(s.output_rate) == 60
    assert any("variable frame rate" in w for w in s.warnings)


# ---- damaged and truncated input ------------------------------------------------------------

def test_truncated_mp4_is_refused_by_default_with_what_can_be_read(media) -> None:
    with pytest.raises(DamagedInputError) as err:
        probe(media["cut"])
    msg = str(err.value)
    assert "\n" not in msg and "cut30.mp4" in msg and "--allow-partial" in msg
    assert " of 48 frames" in msg and "2.00 s" in msg


def test_truncated_mp4_with_allow_partial_is_described(media) -> None:
    info = probe(media["cut"], allow_partial=True)
    assert info.damage and 5 < info.frame_count < 20
    assert info.duration < 1  # the readable part, not the declared 2 s


def test_a_half_packet_at_the_end_is_damage_when_decoding_too(media) -> None:
    info = probe(media["cut_packet"], allow_partial=True)
    assert info.damage and info.frame_count == 11
    # frame-threaded decoding drops the frames around a half packet without an error: the
    # reader counts packets in and frames out, so this is not silent either
    with pytest.raises(DamagedInputError, match="lost in decoding|undecodable"):
        list(read_frames(info))
    skipped: list[str] = []
    frames = list(read_frames(info, on_corrupt=skipped.append, allow_partial=True))
    assert skipped and len(frames) < 11


def test_corrupt_middle_fails_at_decode_unless_partial_is_allowed(media) -> None:
    info = probe(media["corrupt"])  # the index is intact: only decoding finds the damage
    with pytest.raises(DamagedInputError) as err:
        for _ in read_frames(info):
            pass
    assert "--allow-partial" in str(err.value) and "\n" not in str(err.value)
    skipped: list[str] = []
    frames = list(read_frames(info, on_corrupt=skipped.append, allow_partial=True))
    assert skipped and 30 < len(frames) < 48


def test_cli_truncated_exit_2_one_line_and_nothing_written(tmp_path, media, model_file) -> None:
    out = tmp_path / "o.mp4"
    r = cli("interpolate", str(media["cut"]), "--model-file", model_file, "-o", str(out))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-partial" in lines[0] and "frames" in lines[0]
    assert not out.exists()


def test_cli_allow_partial_completes_warns_when_quiet_and_says_partial(tmp_path, media,
                                                                       model_file) -> None:
    out = tmp_path / "o.mp4"
    r = cli("interpolate", str(media["cut"]), "--model-file", model_file, "-o", str(out),
            "--allow-partial", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["partial"] is True
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "partial" in warn[0]
    assert out.exists()


def test_intact_input_is_not_partial(tmp_path, media, model_file) -> None:
    s = interpolate_video(media["full"], tmp_path / "o.mp4", model_file=model_file, multi=2)
    assert s.partial is False and s.frames_out == 96


# ---- one frame ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["png_as_mp4", "one_frame_mp4", "folder_one_image"])
def test_one_frame_inputs_are_refused_alike(tmp_path, kind) -> None:
    png = tmp_path / "one.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(png))
    if kind == "png_as_mp4":
        src = tmp_path / "image.mp4"
        shutil.copyfile(png, src)
    elif kind == "one_frame_mp4":
        src = tmp_path / "one.mp4"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "1",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src))
    else:
        src = tmp_path / "frames"
        src.mkdir()
        shutil.copyfile(png, src / "0001.png")
    with pytest.raises(MediaInputError) as err:
        probe(src)
    assert "1 frame" in str(err.value) and "\n" not in str(err.value)
