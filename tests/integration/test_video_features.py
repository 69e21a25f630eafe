"""Video features end to end: alpha, 10-bit, montage, subtitles/chapters, JSON, progress."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from _media import (
    audio_stream,
    ffmpeg,
    ffprobe,
    make_clip,
    needs_ffmpeg,
    subtitle_text,
    video_stream,
)
from PIL import Image

from fluidframes.cli import main
from fluidframes.pipeline import interpolate_video

pytestmark = [needs_ffmpeg, pytest.mark.slow]


def test_rgba_png_folder_keeps_alpha(tmp_path, model_file):
    src = tmp_path / "rgba"
    src.mkdir()
    for n in range(6):
        img = np.zeros((40, 56, 4), np.uint8)
        img[..., :3] = 90
        img[8:24, 6 * n : 6 * n + 12] = (250, 40, 40, 255)  # an opaque square moving right
        Image.fromarray(img, "RGBA").save(src / f"f{n:03d}.png")
    out = tmp_path / "out"
    s = interpolate_video(src, out, model_file=model_file, multi=2, png=True, input_fps="12")
    frames = [np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))]
    assert s.frames_out == 12 and len(frames) == 12
    assert all(f.shape == (40, 56, 4) for f in frames)
    # source frames pass through with their alpha untouched
    assert np.array_equal(frames[2][..., 3], np.asarray(Image.open(src / "f001.png"))[..., 3])
    assert frames[1][..., 3].max() > 0  # the interpolated frame carries a moved alpha plane
    mov = tmp_path / "out.mov"
    interpolate_video(src, mov, model_file=model_file, multi=2, input_fps="12")
    v = video_stream(ffprobe(mov))
    assert v["codec_name"] == "prores" and "a" in v["pix_fmt"].replace("yuva", "a")


def test_ten_bit_in_ten_bit_out(tmp_path, model_file):
    src = make_clip(tmp_path / "ten.mkv", seconds=0.5, audio=False,
                    extra=("-pix_fmt", "yuv420p10le", "-c:v", "libx265", "-x265-params", "log-level=error"))
    assert video_stream(ffprobe(src))["pix_fmt"] == "yuv420p10le"
    out = tmp_path / "ten_out.mkv"
    interpolate_video(src, out, model_file=model_file, multi=2, pix_fmt="yuv420p10le")
    assert video_stream(ffprobe(out))["pix_fmt"] == "yuv420p10le"
    with av.open(str(out)) as c:
        f = next(c.decode(video=0)).to_ndarray(format="rgb48le")
    assert f.dtype == np.uint16 and len(np.unique(f[..., 0] % 64)) > 4  # not 8-bit padded


def test_montage_side_by_side(tmp_path, model_file):
    src = make_clip(tmp_path / "m.mp4", seconds=0.5, audio=False)
    out = tmp_path / "montage.mp4"
    s = interpolate_video(src, out, model_file=model_file, multi=2, montage=True)
    v = video_stream(ffprobe(out))
    assert (v["width"], v["height"]) == (320, 96)
    with av.open(str(out)) as c:
        f = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    assert len(f) == s.frames_out
    # left half of an in-between frame is the held original: equals the previous frame's left
    assert np.abs(f[1][:, :160].astype(int) - f[0][:, :160]).mean() < 2
    # labels: bright text pixels in the top-left corner of both halves
    assert f[0][2:20, 2:60].max() > 240 and f[0][2:20, 162:220].max() > 240


def test_subtitles_and_chapters_carried(tmp_path, model_file):
    src = make_clip(tmp_path / "base.mkv", seconds=2.0, audio=True)
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello there\n\n")
    meta = tmp_path / "chap.txt"
    meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=One\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Two\n")
    full = tmp_path / "full.mkv"
    ffmpeg("-i", str(src), "-i", str(srt), "-i", str(meta), "-map", "0", "-map", "1",
           "-map_metadata", "2", "-map_chapters", "2", "-c", "copy", "-c:s", "srt", str(full))
    out = tmp_path / "out.mp4"
    s = interpolate_video(full, out, model_file=model_file, multi=2)
    p = ffprobe(out)
    kinds = [st["codec_type"] for st in p["streams"]]
    assert kinds.count("subtitle") == 1 and audio_stream(p) is not None
    sub = next(st for st in p["streams"] if st["codec_type"] == "subtitle")
    assert sub["codec_name"] == "mov_text"
    text = subtitle_text(out)
    # subtitle times stay relative to the picture: the source video starts a little after 0
    vstart = float(video_stream(ffprobe(full))["start_time"])
    ms = round((0.5 - vstart) * 1000)
    assert "Hello there" in text and f"00:00:00,{ms:03d}" in text
    assert [c["tags"]["title"] for c in p["chapters"]] == ["One", "Two"]
    assert s.subtitles_dropped == []


def test_json_summary_and_progress(tmp_path, model_file, capsys):
    src = make_clip(tmp_path / "j.mp4", seconds=1.0)
    out = tmp_path / "j_out.mp4"
    assert main(["interpolate", str(src), "-o", str(out), "--multi", "3", "--json",
                 "--model-file", model_file]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_in"] == 24 and summary["frames_out"] == 72
    assert Fraction(summary["output_rate"]) == 72 and summary["in_sync"] is True
    assert summary["skipped_packets"] == 0 and summary["seconds"] > 0
    events = []
    interpolate_video(src, tmp_path / "p.mp4", model_file=model_file, multi=2,
                      progress=events.append)
    assert events and events[-1].frames_out == 48 and events[-1].frames_total == 48
    assert all(a.frames_out <= b.frames_out for a, b in zip(events, events[1:]))
