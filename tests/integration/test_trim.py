"""--start/--duration: only that part of the input, with its audio, subtitles and timing exact.

The tiny random-weight model keeps these fast: they check frames, times and streams. Inputs are
made by FFmpeg's lavfi (a white flash and a 1 kHz beep at the same known time) and outputs are
read back with ffprobe and PyAV, independently of the code under test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image
from _media import (
    audio_stream,
    beep_onset,
    brightest_frame,
    ffmpeg,
    ffprobe,
    frames_of,
    make_clip,
    rate,
    video_stream,
)

from fluidframes.cli import main
from fluidframes.errors import CancelledError, InputError
from fluidframes.pipeline import interpolate_video

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")]

FLASH = 1.5  # the flash frame (source frame 36) and the beep onset, in source seconds


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s at 24 fps, a keyframe every 0.5 s, flash + beep at 1.5 s."""
    return make_clip(tmp_path_factory.mktemp("trim") / "flash.mp4", size="64x48", rate="24",
                     seconds=3.0, flash_at=FLASH, beep_at=FLASH, extra=("-g", "12"))


def _av(out):
    p = ffprobe(out, count_frames=True)
    return p, video_stream(p), audio_stream(p)


def _sync_within_one_frame(out, fps: Fraction, flash_out: float, src):
    """The flash is on the output frame at ``flash_out`` and the beep starts with it."""
    frames = frames_of(out)
    k = round(flash_out * fps)
    assert frames[k].mean() > 200 and frames[k - 3].mean() < 200
    idx, t = brightest_frame(out)
    assert abs(float(t) - flash_out) <= 1 / float(fps) + 1e-9  # first flashed frame
    beep_src = beep_onset(src) - FLASH  # lavfi's beep starts this late after its flash
    assert abs(beep_onset(out) - (flash_out + beep_src)) <= 1 / float(fps)


def test_a_cut_from_the_middle_keeps_sync_within_one_frame(tmp_path, clip, model_file):
    s = interpolate_video(clip, tmp_path / "mid.mp4", model_file=model_file, multi=2,
                          start="1", duration="1", segment_seconds=0.5)
    out = tmp_path / "mid.mp4"
    assert s.segments == 2 and s.part == "1s-2s"
    p, v, a = _av(out)
    assert int(v["nb_read_frames"]) == 48 == s.frames_out and rate(v) == 48
    assert abs(float(v["duration"]) - 1.0) < 1e-3
    assert a is not None and abs(float(a["duration"]) - 1.0) < 0.002  # cut to the sample
    assert abs(float(a.get("start_time", 0)) - float(v.get("start_time", 0))) < 1e-3
    _sync_within_one_frame(out, Fraction(48), FLASH - 1.0, clip)
    assert s.in_sync is True and abs(s.av_sync_error) < 1 / 48
    assert s.audio["audio_mode"] == "reencode" and s.input_duration == pytest.approx(1.0)
    assert not list(tmp_path.glob(".*"))


def test_trim_with_multi_and_slowmo(tmp_path, clip, model_file):
    out = tmp_path / "slow.mp4"
    s = interpolate_video(clip, out, model_file=model_file, multi=2, slowmo=True,
                          start="00:00:01.000", duration="1")
    p, v, a = _av(out)
    assert int(v["nb_read_frames"]) == 48 and rate(v) == 24  # 1 s of source, 2x slower
    assert abs(float(v["duration"]) - 2.0) < 1e-3
    assert a is not None and abs(float(a["duration"]) - 2.0) < 0.03
    assert s.audio["audio_mode"] == "stretch" and s.in_sync is True
    frames = frames_of(out)
    assert frames[24].mean() > 200  # source 1.5 s = output 1.0 s
    assert abs(beep_onset(out) - 1.0) < 1 / 24 + 0.002


def test_trim_at_the_very_start_and_end(tmp_path, clip, model_file, capsys):
    head = interpolate_video(clip, tmp_path / "head.mp4", model_file=model_file, multi=2,
                             duration="0.5")
    assert head.frames_out == 24 and head.part == "0s-0.5s"
    _, v, a = _av(tmp_path / "head.mp4")
    assert int(v["nb_read_frames"]) == 24 and abs(float(a["duration"]) - 0.5) < 0.002
    # to the end: --start alone, and a duration past the end, give the same 0.5 s, named by
    # where the part really ends
    tail = interpolate_video(clip, None, model_file=model_file, multi=2, start="2.5",
                             duration="10", ext="mov")
    assert tail.output.endswith("flash_2X_48fps_2.5s-3s.mov")
    _, v, a = _av(tail.output)
    assert tail.frames_out == 24 and int(v["nb_read_frames"]) == 24
    assert abs(float(a["duration"]) - 0.5) < 0.03 and tail.in_sync is True
    # a start past the end: one line, exit 2, nothing written
    rc = main(["interpolate", str(clip), "-o", str(tmp_path / "late.mp4"), "--model-file",
               model_file, "--start", "3.2"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "start 3.2 s is past the end" in err
    assert not (tmp_path / "late.mp4").exists()
    rc = main(["interpolate", str(clip), "--model-file", model_file, "--duration", "-1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().endswith("got -1") and err.count("\n") == 1


def _pngs(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def test_trimmed_frames_are_the_whole_runs_frames(tmp_path, model_file):
    """Cut in segments or not, a part is exactly the frames an uncut run makes there; a start
    between two source frames begins with the frame interpolated at that instant."""
    src = make_clip(tmp_path / "g3.mp4", size="64x48", rate="24", seconds=1.0, audio=False,
                    extra=("-g", "3"))
    whole = interpolate_video(src, tmp_path / "whole", model_file=model_file, png=True,
                              multi=2)
    part = interpolate_video(src, tmp_path / "part", model_file=model_file, png=True, multi=2,
                             start="0.25", duration="0.5", segment_seconds=0.125)
    assert part.segments >= 3 and part.frames_out == 24 and part.frames_in == 12
    a, b = _pngs(tmp_path / "whole"), _pngs(tmp_path / "part")
    assert all(np.array_equal(x, y) for x, y in zip(a[12:36], b, strict=True))
    # start on an output instant between two source frames: 1/48 s after source frame 6
    odd = interpolate_video(src, tmp_path / "odd", model_file=model_file, png=True, multi=2,
                            start=Fraction(13, 48), duration="0.25")
    c = _pngs(tmp_path / "odd")
    assert odd.frames_out == 12 and all(np.array_equal(x, y) for x, y in zip(a[13:25], c))
    # to the end: the last frames hold the last source frame, as in the whole run
    end = interpolate_video(src, tmp_path / "end", model_file=model_file, png=True, multi=2,
                            start="0.75")
    d = _pngs(tmp_path / "end")
    assert end.frames_out == 12 and all(np.array_equal(x, y) for x, y in zip(a[36:], d,
                                                                             strict=True))
    # --loop on a part loops that part: the same frames as looping a clip of just those frames
    # (source frames 6..17 pass through the whole run untouched as its even frames)
    part_clip = tmp_path / "frames6-17"
    part_clip.mkdir()
    for k in range(6, 18):
        Image.fromarray(a[2 * k]).save(part_clip / f"f{k:03d}.png")
    ref = interpolate_video(part_clip, tmp_path / "ref_loop", model_file=model_file, png=True,
                            multi=2, input_fps="24", loop=True)
    looped = interpolate_video(src, tmp_path / "part_loop", model_file=model_file, png=True,
                               multi=2, start="0.25", duration="0.5", loop=True)
    e, f = _pngs(tmp_path / "ref_loop"), _pngs(tmp_path / "part_loop")
    assert ref.frames_out == looped.frames_out == 24
    assert all(np.array_equal(x, y) for x, y in zip(e, f, strict=True))
    assert not np.array_equal(f[-1], b[-1])  # towards the part's first frame, not frame 18


@pytest.mark.parametrize("ext", ["mkv", "mp4"])  # subrip copied; converted to mov_text
def test_subtitles_and_chapters_cut_to_the_part(tmp_path, clip, model_file, ext):
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:00,600\nbefore\n\n"
                   "2\n00:00:00,800 --> 00:00:01,300\nacross the start\n\n"
                   "3\n00:00:01,500 --> 00:00:01,700\ninside\n\n"
                   "4\n00:00:01,900 --> 00:00:02,400\nacross the end\n\n"
                   "5\n00:00:02,600 --> 00:00:02,900\nafter\n\n")
    meta = tmp_path / "chap.txt"
    meta.write_text(";FFMETADATA1\n" + "".join(
        f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={a}\nEND={b}\ntitle={t}\n"
        for a, b, t in [(0, 900, "A"), (900, 1600, "B"), (1600, 2200, "C"), (2200, 3000, "D")]))
    full = tmp_path / "full.mkv"
    # (no audio: ffmpeg would start the mkv's video 21 ms late, after the AAC priming, while
    # the chapters stay put)
    ffmpeg("-i", str(clip), "-i", str(srt), "-i", str(meta), "-map", "0:v", "-map", "1",
           "-map_metadata", "2", "-map_chapters", "2", "-c", "copy", "-c:s", "srt", str(full))
    out = tmp_path / f"part.{ext}"
    s = interpolate_video(full, out, model_file=model_file, multi=2, start="1", duration="1")
    assert s.audio["subtitle_streams"] == 1
    events = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "s:0", "-show_packets", "-show_data",
         "-of", "json", str(out)], check=True, capture_output=True, text=True).stdout)["packets"]
    times = [(round(float(e["pts_time"]), 3), round(float(e["duration_time"]), 3))
             for e in events if int(e["size"]) > 2]  # (mov_text fills gaps with empty samples)
    assert times == [(0.0, 0.3), (0.5, 0.2), (0.9, 0.1)]
    chapters = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(out)], check=True,
        capture_output=True, text=True).stdout)["chapters"]
    got = [(c["tags"]["title"], round(float(c["start_time"]), 3), round(float(c["end_time"]), 3))
           for c in chapters]
    assert got == [("B", 0.0, 0.6), ("C", 0.6, 1.0)]


def test_resume_needs_the_same_part(tmp_path, clip, model_file):
    out = tmp_path / "r.mp4"
    cancel = threading.Event()

    def stop_midway(p):
        if p.frames_out >= 30:
            cancel.set()

    opts = dict(model_file=model_file, multi=2, start="0.5", duration="1.5",
                segment_seconds=0.5)
    with pytest.raises(CancelledError, match="--resume"):
        interpolate_video(clip, out, progress=stop_midway, cancel=cancel, **opts)
    with pytest.raises(InputError, match="cannot resume"):
        interpolate_video(clip, out, resume=True, **{**opts, "start": "1"})
    s = interpolate_video(clip, out, resume=True, **opts)
    assert s.segments_resumed >= 1 and s.frames_out == 72 and s.in_sync is True
