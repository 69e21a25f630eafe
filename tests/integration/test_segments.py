"""Segments: cutting the clip changes nothing in the output, and completed ones resume."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _media import frames_of, make_clip, needs_ffmpeg
from PIL import Image

from fluidframes.errors import CancelledError
from fluidframes.metrics import psnr
from fluidframes.pipeline import interpolate_video

pytestmark = [needs_ffmpeg, pytest.mark.slow]


@pytest.fixture(scope="module")
def gop12(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "g12.mp4", size="96x64", gop=12)


def _pngs(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


@pytest.mark.parametrize("opts", [{"multi": 3}, {"fps": "60"}, {"multi": 2, "dedup": True}])
def test_segmenting_does_not_change_frames(tmp_path, gop12, model_file, opts):
    whole = interpolate_video(gop12, tmp_path / "whole", model_file=model_file, png=True,
                              segment_seconds=0, **opts)
    cut = interpolate_video(gop12, tmp_path / "cut", model_file=model_file, png=True,
                            segment_seconds=0.4, **opts)
    assert (whole.segments, cut.segments) == (1, 4)
    a, b = _pngs(tmp_path / "whole"), _pngs(tmp_path / "cut")
    assert len(a) == len(b) == whole.frames_out == cut.frames_out
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_segments_joined_with_audio(tmp_path, gop12, model_file):
    s = interpolate_video(gop12, tmp_path / "o.mp4", model_file=model_file, multi=2,
                          segment_seconds=0.5)
    assert s.segments == 4 and s.frames_out == 96
    assert len(frames_of(tmp_path / "o.mp4")) == 96
    assert s.in_sync is True and abs(s.audio["audio_duration"] - 2.0) < 0.03


def test_resume_after_cancel_gives_the_same_file(tmp_path, gop12, model_file):
    ref = tmp_path / "ref.mp4"
    interpolate_video(gop12, ref, model_file=model_file, multi=2, segment_seconds=0.5)
    out = tmp_path / "o.mp4"
    cancel = threading.Event()

    def stop_midway(p):
        if p.frames_out >= 40:
            cancel.set()

    with pytest.raises(CancelledError, match="--resume"):
        interpolate_video(gop12, out, model_file=model_file, multi=2, segment_seconds=0.5,
                          progress=stop_midway, cancel=cancel)
    assert not out.exists() and not list(tmp_path.glob(".o.mp4*"))
    s = interpolate_video(gop12, out, model_file=model_file, multi=2, segment_seconds=0.5,
                          resume=True)
    assert s.segments_resumed >= 1
    # The same frames were encoded: x264 itself can make different choices for identical input
    # between two encodes (it reads uninitialised memory; see video/writer._zero_row_padding),
    # so compare both files with the exact frames (a lossless run) rather than byte for byte.
    truth = tmp_path / "truth"
    interpolate_video(gop12, truth, model_file=model_file, multi=2, segment_seconds=0.5,
                      png=True)
    exact = _pngs(truth)
    a, b = frames_of(out), frames_of(ref)
    assert len(a) == len(b) == len(exact) == 96
    pa = [psnr(x, t[..., :3]) for x, t in zip(a, exact)]
    pb = [psnr(y, t[..., :3]) for y, t in zip(b, exact)]
    # a missing or shifted frame would lose >10 dB against the truth; encoder noise is ~1 dB
    assert max(abs(x - y) for x, y in zip(pa, pb)) < 3 and abs(np.mean(pa) - np.mean(pb)) < 0.5


def test_resume_png_is_exact(tmp_path, gop12, model_file):
    ref = tmp_path / "ref"
    interpolate_video(gop12, ref, model_file=model_file, multi=2, segment_seconds=0.5, png=True)
    out = tmp_path / "o"
    cancel = threading.Event()

    def stop_midway(p):
        if p.frames_out >= 40:
            cancel.set()

    with pytest.raises(CancelledError):
        interpolate_video(gop12, out, model_file=model_file, multi=2, segment_seconds=0.5,
                          png=True, progress=stop_midway, cancel=cancel)
    s = interpolate_video(gop12, out, model_file=model_file, multi=2, segment_seconds=0.5,
                          png=True, resume=True)
    assert s.segments_resumed >= 1
    assert s.frames_in == 48 and s.interpolated + s.held == 96  # whole-clip numbers
    a, b = _pngs(out), _pngs(ref)
    assert len(a) == len(b) == 96 and all(np.array_equal(x, y) for x, y in zip(a, b))
