"""Segments: cutting the clip changes nothing in the output, and completed ones resume."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from fluidframes.errors import CancelledError
from fluidframes.pipeline import interpolate_video

from synth import ffmpeg, frames_of

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, random_models):
    net, _ = random_models["rife-v4.6"]
    path = tmp_path_factory.mktemp("model") / "tiny.pkl"
    torch.save(net.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def gop12(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "g12.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=24:duration=3", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000:duration=3", "-c:v", "libx264", "-g", "12",
           "-c:a", "aac", str(path))
    return path


def _pngs(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


@pytest.mark.parametrize("opts", [{"multi": 3}, {"fps": "60"}, {"multi": 2, "dedup": True}])
def test_segmenting_does_not_change_frames(tmp_path, gop12, model_file, opts):
    whole = interpolate_video(gop12, tmp_path / "whole", model_file=model_file, png=True,
                              segment_seconds=0, **opts)
    cut = interpolate_video(gop12, tmp_path / "cut", model_file=model_file, png=True,
                            segment_seconds=0.4, **opts)
    assert (whole.segments, cut.segments) == (1, 6)
    a, b = _pngs(tmp_path / "whole"), _pngs(tmp_path / "cut")
    assert len(a) == len(b) == whole.frames_out == cut.frames_out
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_segments_joined_with_audio(tmp_path, gop12, model_file):
    s = interpolate_video(gop12, tmp_path / "o.mp4", model_file=model_file, multi=2,
                          segment_seconds=0.5)
    assert s.segments == 6 and s.frames_out == 144
    assert len(frames_of(tmp_path / "o.mp4")) == 144
    assert s.in_sync is True and abs(s.audio["audio_duration"] - 3.0) < 0.03


def test_resume_after_cancel_gives_the_same_file(tmp_path, gop12, model_file):
    ref = tmp_path / "ref.mp4"
    interpolate_video(gop12, ref, model_file=model_file, multi=2, segment_seconds=0.5)
    out = tmp_path / "o.mp4"
    cancel = threading.Event()

    def stop_midway(p):
        if p.frames_out >= 70:
            cancel.set()

    with pytest.raises(CancelledError, match="--resume"):
        interpolate_video(gop12, out, model_file=model_file, multi=2, segment_seconds=0.5,
                          progress=stop_midway, cancel=cancel)
    assert not out.exists() and not list(tmp_path.glob(".o.mp4*"))
    s = interpolate_video(gop12, out, model_file=model_file, multi=2, segment_seconds=0.5,
                          resume=True)
    assert s.segments_resumed >= 2
    assert out.read_bytes() == ref.read_bytes()
