"""End to end: `fluidframes interpolate` timing, audio sync, metadata, cuts, bad input.

A tiny random-weight model keeps these fast: they check frames, times and streams, not the
picture quality (tests/integration/test_quality.py and test_real_video.py do that).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from _media import (
    audio_stream,
    beep_onset,
    brightest_frame,
    encode_frames,
    ffmpeg,
    ffprobe,
    frames_of,
    lavfi_testsrc,
    make_clip,
    needs_ffmpeg,
    packets,
    rate,
    video_stream,
)

from fluidframes.cli import main
from fluidframes.errors import InputError
from fluidframes.metrics import psnr
from fluidframes.pipeline import interpolate_video

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        "24": make_clip(d / "c24.mp4", rate="24", flash_at=1.0, beep_at=1.0),
        "25": make_clip(d / "c25.mp4", rate="25"),
        "ntsc": make_clip(d / "c2997.mp4", rate="30000/1001"),
    }


def _check_streams(out: Path, frames: int, fps: Fraction):
    p = ffprobe(out, count_frames=True)
    v, a = video_stream(p), audio_stream(p)
    assert int(v["nb_read_frames"]) == frames
    assert rate(v) == fps
    vdur = float(v["duration"])
    assert abs(vdur - frames / fps) < 1e-3
    assert a is not None
    # audio and video end together within one output frame (AAC frames are ~21 ms)
    assert abs(float(a["duration"]) - vdur) <= 1 / float(fps) + 0.0215
    assert abs(float(a.get("start_time", 0)) - float(v.get("start_time", 0))) <= 1 / float(fps)
    return p


@pytest.mark.parametrize(
    "clip,opts,frames,fps",
    [
        ("24", {"multi": 2}, 96, Fraction(48)),
        ("24", {"multi": 3}, 144, Fraction(72)),
        ("24", {"multi": 4}, 192, Fraction(96)),
        ("24", {"exp": 2}, 192, Fraction(96)),
        ("24", {"fps": "60"}, 120, Fraction(60)),
        ("25", {"fps": "60"}, 120, Fraction(60)),
        ("ntsc", {"fps": "60"}, 121, Fraction(60)),  # 60 frames of 1001/30000 s = 2.002 s
        ("ntsc", {"multi": 2}, 120, Fraction(60000, 1001)),
    ],
)
@pytest.mark.slow
def test_frame_counts_rates_and_audio(tmp_path, clips, model_file, clip, opts, frames, fps):
    out = tmp_path / "out.mp4"
    s = interpolate_video(clips[clip], out, model_file=model_file, **opts)
    assert (s.frames_out, Fraction(s.output_rate)) == (frames, fps)
    _check_streams(out, frames, fps)
    assert s.audio["audio_mode"] == "copy"
    assert s.in_sync is True and abs(s.av_sync_error) <= 1 / float(fps)
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


@pytest.mark.slow
def test_audio_is_a_packet_copy(tmp_path, clips, model_file):
    out = tmp_path / "out.mkv"
    interpolate_video(clips["25"], out, model_file=model_file, multi=2)
    # every packet copied byte for byte, except the AAC priming packet before t=0: mp4 hides it
    # with an edit list; Matroska cannot hold it without shifting the video (video/mux.py)
    assert packets(out) and packets(out) == packets(clips["25"])[1:]


@pytest.mark.parametrize("opts", [{"multi": 2}, {"fps": "60"}, {"multi": 3}])
@pytest.mark.slow
def test_beep_stays_on_its_frame(tmp_path, clips, model_file, opts):
    src = clips["24"]
    idx, flash_t = brightest_frame(src)
    assert flash_t == 1  # the flash is source frame 24, shown at exactly 1 s
    in_offset = beep_onset(src) - 1.0
    out = tmp_path / "out.mp4"
    s = interpolate_video(src, out, model_file=model_file, **opts)
    out_rate = Fraction(s.output_rate)
    frames = frames_of(out)
    assert frames[int(out_rate)].mean() > 200  # the output frame at 1 s is the flash
    out_offset = beep_onset(out) - 1.0
    assert abs(out_offset - in_offset) <= 1 / float(out_rate)


@pytest.mark.slow
def test_slowmo_stretches_audio(tmp_path, clips, model_file):
    out = tmp_path / "slow.mp4"
    s = interpolate_video(clips["24"], out, model_file=model_file, multi=4, slowmo=True)
    assert s.frames_out == 192 and Fraction(s.output_rate) == 24
    p = ffprobe(out)
    v, a = video_stream(p), audio_stream(p)
    assert abs(float(v["duration"]) - 8.0) < 1e-3
    assert a is not None and abs(float(a["duration"]) - 8.0) < 0.1
    assert s.audio["audio_mode"] == "stretch"
    # the beep lasted 0.1 s; stretched 4x it lasts ~0.4 s and starts near 4 s
    assert abs(beep_onset(out) - 4.0) < 0.1
    drop = tmp_path / "slow_drop.mp4"
    interpolate_video(clips["24"], drop, model_file=model_file, multi=2, slowmo=True, audio="drop")
    assert audio_stream(ffprobe(drop)) is None


def test_vfr_input_gives_cfr_output_at_the_right_times(tmp_path, model_file):
    src = tmp_path / "vfr.mkv"
    # grey level = source frame number; irregular gaps of 20/40/60 ms
    pts_ms = [0, 40, 60, 120, 160, 180, 240, 300, 320, 360, 400, 460]
    images = [np.full((48, 64, 3), 20 + 18 * n, np.uint8) for n in range(len(pts_ms))]
    encode_frames(src, images, pix_fmt="yuv444p", rate=50, pts=pts_ms,
                  time_base=Fraction(1, 1000), options={"crf": "0"})
    out = tmp_path / "frames"
    s = interpolate_video(src, out, model_file=model_file, fps="50", png=True,
                          scene_detect=False)
    assert Fraction(s.output_rate) == 50
    from PIL import Image

    imgs = sorted(out.glob("*.png"))
    assert len(imgs) == s.frames_out
    # every source frame lands on the 20 ms output grid: output k*20ms shows exactly it
    for n, ms in enumerate(pts_ms):
        got = np.asarray(Image.open(imgs[ms // 20]))[..., :3].astype(int)
        assert abs(got.mean() - (20 + 18 * n)) < 2, (n, ms, got.mean())
    assert s.frames_out >= pts_ms[-1] // 20 + 1


def test_rotation_kept(tmp_path, model_file):
    src = tmp_path / "rot.mp4"
    images = [np.zeros((48, 64, 3), np.uint8) for _ in range(6)]
    for n, img in enumerate(images):
        img[:, 8 * n : 8 * n + 8] = 200
    encode_frames(src, images, rotation=90)
    rot_in = _rotation(ffprobe(src))
    assert rot_in in (90, -90, 270)
    out = tmp_path / "out.mp4"
    interpolate_video(src, out, model_file=model_file, multi=2)
    assert _rotation(ffprobe(out)) == rot_in
    v = video_stream(ffprobe(out))
    assert (v["width"], v["height"]) == (64, 48)  # pixels stay as coded, the tag rotates them


def _rotation(p: dict) -> int | None:
    v = video_stream(p)
    for sd in v.get("side_data_list", []):
        if "rotation" in sd:
            return int(sd["rotation"])
    tag = v.get("tags", {}).get("rotate")
    return int(tag) if tag is not None else None


@pytest.mark.slow
def test_odd_size(tmp_path, model_file):
    src = make_clip(tmp_path / "odd.mkv", size="128x96", seconds=0.5, audio=False,
                    vf="scale=97:65", extra=("-pix_fmt", "yuv444p"))
    assert (video_stream(ffprobe(src))["width"], video_stream(ffprobe(src))["height"]) == (97, 65)
    out = tmp_path / "odd_out.webm"
    s = interpolate_video(src, out, model_file=model_file, multi=2)
    v = video_stream(ffprobe(out))
    assert (v["width"], v["height"]) == (97, 65)
    assert s.frames_out == 24
    mp4 = tmp_path / "odd_out.mp4"
    interpolate_video(src, mp4, model_file=model_file, multi=2)
    v = video_stream(ffprobe(mp4))
    assert (v["width"], v["height"]) in ((97, 65), (98, 66))


@pytest.mark.slow
def test_no_blended_frame_at_a_scene_cut(tmp_path, model_file):
    a = tmp_path / "a.mp4"
    b = tmp_path / "b.mp4"
    ffmpeg(*lavfi_testsrc("128x96", 24, 0.5), "-pix_fmt",
           "yuv444p", "-c:v", "libx264", "-crf", "0", str(a))
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=128x96:rate=24", "-t", "0.5", "-pix_fmt",
           "yuv444p", "-c:v", "libx264", "-crf", "0", str(b))
    joined = tmp_path / "joined.mkv"
    ffmpeg("-i", str(a), "-i", str(b), "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]",
           "-map", "[v]", "-c:v", "libx264", "-crf", "0", "-pix_fmt", "yuv444p", str(joined))
    src_frames = frames_of(joined)
    out = tmp_path / "png"
    s = interpolate_video(joined, out, model_file=model_file, multi=2, png=True)
    assert s.scene_cuts == 1
    from PIL import Image

    got = [np.asarray(Image.open(p))[..., :3] for p in sorted(out.glob("*.png"))]
    cut = 12  # first frame of the second clip
    mid = got[2 * cut - 1]  # the slot between the last frame of A and the first of B
    assert max(psnr(mid, src_frames[cut - 1]), psnr(mid, src_frames[cut])) > 45
    # elsewhere the in-between frames are real interpolations, not copies
    assert psnr(got[5], src_frames[2]) < 45 and psnr(got[5], src_frames[3]) < 45
    off = tmp_path / "png_off"
    s2 = interpolate_video(joined, off, model_file=model_file, multi=2, png=True,
                           scene_detect=False)
    assert s2.scene_cuts == 0


@pytest.mark.slow
def test_dedup_retimes_duplicates(tmp_path, model_file):
    src = tmp_path / "twos.mkv"
    images = [np.zeros((48, 64, 3), np.uint8) for _ in range(24)]
    for n, img in enumerate(images):
        x = 4 * (n // 2)  # animation on twos: every drawing held for two frames
        img[10:30, x : x + 8] = 255
    encode_frames(src, images, pix_fmt="yuv444p", options={"crf": "0"})
    s = interpolate_video(src, tmp_path / "o.mkv", model_file=model_file, multi=2, dedup=True)
    assert s.duplicates_dropped == 12
    assert s.frames_out == 48  # duration kept
    assert s.interpolated == 33  # 11 gaps between drawings x 3 new frames: held drawings became motion


# ---- bad input and safety ---------------------------------------------------------------------

def _cli(args, capsys):
    rc = main(args)
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    return rc, [line for line in err if line.strip() and "frame/s" not in line and "%|" not in line]


def test_bad_inputs_one_line_errors(tmp_path, clips, model_file, capsys):
    txt = tmp_path / "notes.mp4"
    txt.write_text("this is not a video")
    empty = tmp_path / "empty"
    empty.mkdir()
    one = tmp_path / "one.mp4"
    ffmpeg(*lavfi_testsrc("64x48", 24), "-frames:v", "1", str(one))
    cases = [
        ([str(txt)], 2),
        ([str(tmp_path / "missing.mp4")], 2),
        ([str(empty)], 2),
        ([str(one)], 2),
        ([str(clips["25"]), "-o", str(clips["25"])], 2),
        ([str(clips["25"]), "-o", str(tmp_path / "x.mp4"), "--codec", "libvpx-vp9", "--png"], 2),
        ([str(clips["25"]), "-o", str(tmp_path / "x.webm"), "--codec", "libx264"], 2),
        ([str(clips["25"]), "-o", str(tmp_path / "x.xyz")], 2),
        ([str(clips["25"]), "--multi", "1"], 2),
        ([str(clips["25"]), "--fps", "abc"], 2),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, code in cases:
        rc, err = _cli(["interpolate", *args, "--model-file", model_file], capsys)
        assert rc == code, (args, err)
        assert len(err) == 1 and err[0].startswith("fluidframes: error:"), (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert clips["25"].stat().st_size > 0


def test_unwritable_destination(tmp_path, clips, model_file, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / "out.mp4"  # a path under a file: unwritable even for root
    rc, err = _cli(["interpolate", str(clips["25"]), "-o", str(target), "--model-file", model_file], capsys)
    assert rc == 2 and len(err) == 1 and err[0].startswith("fluidframes: error:"), err
    assert blocker.read_text() == "x"


@pytest.mark.slow
def test_existing_output_needs_overwrite(tmp_path, clips, model_file, capsys):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    rc, err = _cli(["interpolate", str(clips["25"]), "-o", str(out), "--model-file", model_file], capsys)
    assert rc == 2 and "--overwrite" in err[0]
    assert out.read_bytes() == b"keep me"
    rc, _ = _cli(["interpolate", str(clips["25"]), "-o", str(out), "--overwrite", "--quiet",
                  "--model-file", model_file], capsys)
    assert rc == 0 and out.stat().st_size > 1000


@pytest.mark.slow
def test_default_output_name(tmp_path, clips, model_file):
    src = tmp_path / "clip.mp4"
    shutil.copy(clips["24"], src)
    s = interpolate_video(src, None, model_file=model_file, multi=2)
    assert Path(s.output) == tmp_path / "clip_2X_48fps.mp4"
    s = interpolate_video(src, None, model_file=model_file, fps="60")
    assert Path(s.output) == tmp_path / "clip_60fps.mp4"  # 2.5x is no whole multiple
    # a target rate that is no whole multiple of the source is named by the rate alone
    ntsc = tmp_path / "s23.mp4"
    shutil.copy(clips["ntsc"], ntsc)
    s = interpolate_video(ntsc, None, model_file=model_file, fps="60")
    assert Path(s.output) == tmp_path / "s23_60fps.mp4"


def test_batch_passes_every_option_to_the_model(tmp_path, clips, model_file, capsys):
    # --threads (and every other model option) reaches the model of a several-input run
    import json

    import torch

    from fluidframes.cli import main

    before = torch.get_num_threads()
    try:
        rc = main(["interpolate", str(clips["24"]), str(clips["25"]), "-o", str(tmp_path),
                   "--threads", "1", "--model-file", str(model_file), "--json"])
        assert rc == 0
        items = json.loads(capsys.readouterr().out)
        assert len(items) == 2 and all(it["ok"] for it in items)
        assert [it["summary"]["threads"] for it in items] == [1, 1]
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_corrupt_packets_counted(tmp_path, model_file):
    src = tmp_path / "corrupt.mkv"
    images = [np.full((48, 64, 3), 15 * n, np.uint8) for n in range(12)]
    encode_frames(src, images, codec="mjpeg", pix_fmt="yuvj420p", rate=25, corrupt=(5,))
    from fluidframes.errors import DamagedInputError

    with pytest.raises(DamagedInputError, match="--allow-partial"):  # damage is never silent
        interpolate_video(src, tmp_path / "o.mp4", model_file=model_file, multi=2)
    assert not (tmp_path / "o.mp4").exists()
    s = interpolate_video(src, tmp_path / "o.mp4", model_file=model_file, multi=2,
                          allow_partial=True)
    assert s.skipped_packets == 1 and s.partial
    assert s.frames_out == 24  # the gap is interpolated over, duration kept


# A terminal's Ctrl-C: the test runner may itself run with SIGINT ignored (a background job of a
# non-interactive shell), which the child would inherit and honour, so the child restores
# Python's own handler before it runs the CLI. SIGUSR1 makes it print every thread's stack.
_AS_IN_A_TERMINAL = ("import faulthandler, runpy, signal, sys; "
                     "faulthandler.register(signal.SIGUSR1, all_threads=True); "
                     "signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
                     "sys.argv[0] = 'fluidframes'; "
                     "runpy.run_module('fluidframes.cli', run_name='__main__')")


_BAR = re.compile(rb"(\d+)/(\d+) \[")  # tqdm's "n/total [elapsed<left, ...]"


def _bar_count(err: bytes) -> int:
    """The last output-frame count the progress bar has shown (0 before it shows)."""
    counts = _BAR.findall(err)
    return int(counts[-1][0]) if counts else 0


@pytest.mark.slow
def test_ctrl_c_leaves_nothing(tmp_path, model_file):
    src = make_clip(tmp_path / "long.mp4", size="320x192", seconds=20, audio=True)
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", _AS_IN_A_TERMINAL, "interpolate", str(src), "-o", str(out),
         "--multi", "4", "--model-file", model_file],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    err = bytearray()
    mid_run = threading.Event()  # set once frames are being written, or when stderr closes

    def read_stderr() -> None:
        while chunk := proc.stderr.read1(4096):
            err.extend(chunk)
            if _bar_count(bytes(err)) >= 8:  # two source pairs done: the encoder is writing
                mid_run.set()
        mid_run.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        # Event-driven, not a fixed sleep: however fast or slow the machine, the signal lands
        # after output frames exist and long before the 1920-frame run could end.
        assert mid_run.wait(300), "no progress within 300 s"
        assert proc.poll() is None and _bar_count(bytes(err)) >= 8, bytes(err).decode()[-500:]
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)  # the run's own clean-up may wait up to 65 s for its threads
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # where it is stuck, for the failure message
            time.sleep(2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    text = bytes(err).decode(errors="replace")
    lines = [ln for ln in text.replace("\r", "\n").splitlines()
             if ln.strip() and "frame/s" not in ln and "%|" not in ln and "frame [" not in ln]
    assert proc.returncode == 130, text[-3000:]
    assert lines and "interrupted" in lines[-1] and not any("Traceback" in ln for ln in lines)
    assert list(out.parent.iterdir()) == []
    assert src.stat().st_size > 0


@pytest.mark.slow
def test_output_into_new_folders(tmp_path, clips, model_file):
    out = tmp_path / "new" / "deeper" / "o.mp4"
    s = interpolate_video(clips["25"], out, model_file=model_file, multi=2)
    assert out.is_file() and s.frames_out == 100
    # a failing run removes the folders it made
    bad = tmp_path / "other" / "x.webm"
    with pytest.raises(InputError):
        interpolate_video(clips["25"], bad, model_file=model_file, multi=2, codec="libx264")
    assert not (tmp_path / "other").exists()
