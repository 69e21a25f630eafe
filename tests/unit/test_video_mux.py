"""Remux: audio packet copy, stretch, sync offset, subtitles, chapters, atomic output.

Durations and starts are checked with ffprobe, independently of the library.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from _media import (
    ffmpeg,
    ffprobe,
    lavfi_sine,
    lavfi_testsrc,
    needs_ffmpeg,
    packets,
    streams,
    subtitle_text,
)

from fluidframes.errors import InputError, MediaError
from fluidframes.video import mux as mux_module
from fluidframes.video import probe, read_frames
from fluidframes.video.mux import atempo_chain, finalize
from fluidframes.video.writer import EncodeOptions, VideoWriter

pytestmark = needs_ffmpeg

RATE = 24


def make_source(tmp: Path, name: str = "src.mp4", seconds: float = 1.0, audio_delay: float = 0,
                subs: bool = False, chapters: bool = False, acodec: str = "aac") -> Path:
    src = tmp / name
    args = [*lavfi_testsrc("64x48", RATE), "-itsoffset", str(audio_delay), *lavfi_sine()]
    maps = ["-map", "0:v", "-map", "1:a"]
    if subs:
        srt = tmp / "s.srt"
        srt.write_text("1\n00:00:00,100 --> 00:00:00,500\nHello world\n\n"
                       "2\n00:00:00,600 --> 00:00:00,900\nSecond line\n")
        args += ["-i", str(srt)]
        maps += ["-map", "2:s", "-c:s", "srt", "-metadata:s:s:0", "language=eng"]
    if chapters:
        meta = tmp / "ch.txt"
        meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=400\n"
                        "title=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=400\nEND=900\ntitle=Two\n")
        args += ["-i", str(meta)]
        maps += ["-map_chapters", str(3 if subs else 2)]
    ffmpeg(*args, *maps, "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", acodec, "-metadata:s:a:0", "language=fra", str(src))
    return src


def render(src: Path, dst: Path, repeat: int = 1, **kw) -> mux_module.MuxReport:
    """Decode the source and re-encode every frame ``repeat`` times (a fake slow-motion)."""
    info = probe(src)
    writer = VideoWriter(dst, info.width, info.height, info.rate, info, EncodeOptions())
    for frame in read_frames(info):
        for _ in range(repeat):
            writer.write(frame.image)
    tmp = writer.close()
    try:
        return finalize(tmp, dst, info, **kw)
    except Exception:
        writer.abort()
        raise


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_atempo_chain_stays_in_range() -> None:
    for tempo in (Fraction(1, 4), Fraction(1, 3), Fraction(1, 10), Fraction(2), Fraction(250)):
        stages = atempo_chain(tempo)
        assert all(0.5 <= s <= 100 for s in stages)
        prod = 1.0
        for s in stages:
            prod *= s
        assert abs(prod - float(tempo)) < 1e-9


def test_audio_copy_is_a_packet_copy_and_durations_agree(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    dst = tmp_path / "out.mp4"
    report = render(src, dst)
    assert report.audio_mode == "copy" and report.audio_streams == 1
    a_src, a_dst = streams(src, "audio")[0], streams(dst, "audio")[0]
    assert a_dst["codec_name"] == a_src["codec_name"] == "aac"
    assert a_dst["tags"].get("language") == "fra"
    assert packets(dst, "audio") == packets(src, "audio")  # same count, same bytes
    frame = 1 / RATE
    v_src, v_dst = streams(src, "video")[0], streams(dst, "video")[0]
    assert abs(float(v_dst["duration"]) - float(v_src["duration"])) <= frame
    assert abs(float(a_dst["duration"]) - float(v_dst["duration"])) <= frame
    assert abs(float(a_dst["start_time"]) - float(v_dst["start_time"])) <= frame
    assert abs(report.video_duration - float(v_dst["duration"])) <= frame
    assert leftovers(tmp_path) == []


def test_audio_offset_is_preserved(tmp_path: Path) -> None:
    src = make_source(tmp_path, name="late.mkv", audio_delay=0.25)
    s_v, s_a = streams(src, "video")[0], streams(src, "audio")[0]
    src_offset = float(s_a["start_time"]) - float(s_v["start_time"])
    assert src_offset > 0.2
    dst = tmp_path / "out.mp4"
    report = render(src, dst)
    d_v, d_a = streams(dst, "video")[0], streams(dst, "audio")[0]
    out_offset = float(d_a["start_time"]) - float(d_v["start_time"])
    assert abs(out_offset - src_offset) < 0.002
    assert report.av_offset is not None and abs(report.av_offset - src_offset) < 0.002


def test_stretch_slows_audio_with_the_video(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    dst = tmp_path / "slow.mp4"
    report = render(src, dst, repeat=4, tempo=Fraction(1, 4), audio="stretch")
    assert report.audio_mode == "stretch"
    v, a = streams(dst, "video")[0], streams(dst, "audio")[0]
    assert abs(float(v["duration"]) - 4.0) <= 1 / RATE
    assert abs(float(a["duration"]) - 4 * float(streams(src, "audio")[0]["duration"])) < 0.1
    assert a["codec_name"] == "aac"


def test_copy_with_tempo_drops_audio_and_drop_mode(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    report = render(src, tmp_path / "a.mp4", repeat=2, tempo=Fraction(1, 2), audio="copy")
    assert report.audio_mode == "drop" and streams(tmp_path / "a.mp4", "audio") == []
    report = render(src, tmp_path / "b.mkv", audio="drop")
    assert report.audio_mode == "drop" and streams(tmp_path / "b.mkv", "audio") == []


def test_webm_reencodes_audio_to_opus(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    report = render(src, tmp_path / "o.webm")
    assert report.audio_mode == "reencode"
    assert streams(tmp_path / "o.webm", "audio")[0]["codec_name"] == "opus"
    assert abs(report.audio_duration - report.video_duration) < 0.1


def test_subtitles_and_chapters_carried_into_mp4(tmp_path: Path) -> None:
    src = make_source(tmp_path, name="src.mkv", subs=True, chapters=True)
    dst = tmp_path / "out.mp4"
    report = render(src, dst)
    subs = streams(dst, "subtitle")
    assert [s["codec_name"] for s in subs] == ["mov_text"]
    assert subs[0]["tags"].get("language") == "eng"
    text = subtitle_text(dst)
    assert "Hello world" in text and "Second line" in text
    assert report.subtitle_streams == 1 and report.subtitles_dropped == []
    titles = [c["tags"]["title"] for c in ffprobe(dst)["chapters"]]
    assert titles == ["One", "Two"] and report.chapters == 2


def test_subtitle_failure_never_costs_the_video(tmp_path: Path, monkeypatch) -> None:
    src = make_source(tmp_path, name="src.mkv", subs=True)

    def broken(self, packet, shift):
        raise RuntimeError("simulated subtitle encoder crash")
        yield  # pragma: no cover

    monkeypatch.setattr(mux_module._SubConverter, "feed", broken)
    dst = tmp_path / "out.mp4"
    report = render(src, dst)
    assert dst.exists() and streams(dst, "subtitle") == []
    assert len(streams(dst, "video")) == 1 and len(streams(dst, "audio")) == 1
    assert report.subtitles_dropped and "simulated" in report.subtitles_dropped[0]
    assert leftovers(tmp_path) == []


def test_failed_mux_leaves_nothing_under_dst(tmp_path: Path, monkeypatch) -> None:
    src = make_source(tmp_path)
    dst = tmp_path / "out.mkv"
    dst.write_bytes(b"previous result")

    def broken(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "simulated")

    monkeypatch.setattr(mux_module, "_copy_container_metadata", broken)
    with pytest.raises(MediaError):
        render(src, dst, audio="drop")
    assert dst.read_bytes() == b"previous result"  # untouched
    assert leftovers(tmp_path) == []


def test_finalize_refuses_the_source_as_destination(tmp_path: Path) -> None:
    src = make_source(tmp_path)
    info = probe(src)
    with pytest.raises(InputError):
        finalize(tmp_path / "whatever.mp4", src, info)
    assert probe(src).frame_count == info.frame_count
