"""Tests for fluidframes.scenes on synthetic images and real footage (sample clips)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from _realclips import BBB_DUPLICATES, BIKES_CUTS, frames, resize

from fluidframes.scenes import DupDetector, SceneDetector, thumbnail

# ---------------------------------------------------------------------------------- thumbnail


def test_thumbnail_shapes_and_dtypes(rng):
    img8 = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    t = thumbnail(img8)
    assert t.shape == (36, 64, 3) and t.dtype == np.float32
    assert 0 <= t.min() and t.max() <= 1
    # uint16 with the same content (scaled by 257) gives the same thumbnail
    t16 = thumbnail(img8.astype(np.uint16) * 257)
    np.testing.assert_allclose(t16, t, atol=1e-5)
    # alpha is ignored, grey is replicated, portrait keeps the long side at 64
    rgba = np.concatenate([img8, np.zeros((720, 1280, 1), np.uint8)], axis=2)
    np.testing.assert_array_equal(thumbnail(rgba), t)
    grey = thumbnail(img8[..., 0])
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    assert thumbnail(img8[:, :100]).shape == (64, 9, 3)
    assert thumbnail(np.zeros((3, 2, 3), np.uint8)).shape == (3, 2, 3)  # never upscales
    assert thumbnail(t) is t  # thumbnails pass through
    with pytest.raises(ValueError):
        thumbnail(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ValueError):
        thumbnail(np.zeros((4, 4, 2), np.uint8))


def test_thumbnail_is_area_average():
    img = np.zeros((72, 128, 3), np.uint8)
    img[:, ::2] = 200  # 1-px stripes average to 100
    np.testing.assert_allclose(thumbnail(img), 100 / 255, atol=1e-6)


def test_identical_and_mismatched(rng):
    a = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    assert SceneDetector().score(a, a) == 0
    assert DupDetector().score(a, a) == 0
    assert DupDetector().is_duplicate(a, a)
    with pytest.raises(ValueError):
        SceneDetector().score(a, a[:, :100])


def test_disabled_detector():
    ramp = np.linspace(0, 255, 160).astype(np.uint8)
    a = np.broadcast_to(ramp[None, :, None], (90, 160, 3))
    b = 255 - a
    assert SceneDetector().is_cut(a, b)
    assert not SceneDetector(enabled=False).is_cut(a, b)


# ---------------------------------------------------------------------------------- real cuts

MARGIN = 1.25  # measured scores must clear the threshold by this factor either way


def _scores(det, seq) -> np.ndarray:
    thumbs = [thumbnail(f) for f in seq]
    return np.array([det.score(a, b) for a, b in itertools.pairwise(thumbs)])


@pytest.mark.parametrize("name", ["bigbuckbunny", "carphone"])
def test_no_cut_inside_real_shots(name):
    det = SceneDetector()
    s = _scores(det, frames(name))
    assert s.max() * MARGIN < det.threshold, f"max in-shot score {s.max():.3f}"


def test_real_cuts_inside_bikes_fire_exactly():
    """bikes is edited: five hard cuts between similar street shots, and fast motion."""
    det = SceneDetector()
    s = _scores(det, frames("bikes"))
    assert tuple(np.nonzero(s > det.threshold)[0]) == BIKES_CUTS
    inside = np.delete(s, BIKES_CUTS)
    assert inside.max() * MARGIN < det.threshold < s[list(BIKES_CUTS)].min() / MARGIN


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("bigbuckbunny", "bikes"),
        ("bikes", "carphone"),
        ("carphone", "bigbuckbunny"),
        ("bikes", "bigbuckbunny"),
    ],
)
def test_join_of_two_clips_fires_once(first, second):
    a = frames(first, 40)[-6:]
    h, w = a[0].shape[:2]
    b = [resize(f, h, w) for f in frames(second, 6)]
    seq = list(a) + b
    det = SceneDetector()
    cuts = [i for i in range(len(seq) - 1) if det.is_cut(seq[i], seq[i + 1])]
    assert cuts == [len(a) - 1]
    assert det.score(seq[len(a) - 1], seq[len(a)]) > det.threshold * MARGIN


@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes"])
@pytest.mark.parametrize("speed", [8, 12, 16])
def test_fast_pan_is_not_a_cut(name, speed):
    src = frames(name, 40)[30]
    w = src.shape[1]
    width = w - 6 * speed
    seq = [src[:, k * speed : k * speed + width] for k in range(6)]
    det = SceneDetector()
    s = _scores(det, seq)
    assert s.max() * MARGIN < det.threshold, f"pan score {s.max():.3f}"


# ---------------------------------------------------------------------------------- duplicates


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def test_real_pulldown_duplicates_found():
    """bigbuckbunny repeats a frame every 25: exactly those are duplicates."""
    seq = frames("bigbuckbunny", 60)
    det = DupDetector()
    s = _scores(det, seq)
    dups = tuple(np.nonzero(s <= det.threshold)[0])
    assert dups == tuple(i for i in BBB_DUPLICATES if i < 59)


@pytest.mark.parametrize("name", ["bikes", "carphone"])
def test_real_motion_is_not_duplicate(name):
    det = DupDetector()
    seq = frames(name)
    s = _scores(det, seq)
    assert s.min() > det.threshold * MARGIN, f"min score {s.min() * 255:.2f} levels"


def test_slow_motion_is_not_duplicate():
    """bigbuckbunny 85-95: the slowest motion in the clips (mean change < 0.5 levels)."""
    det = DupDetector()
    seq = frames("bigbuckbunny", 96)[84:]
    assert min(det.score(a, b) for a, b in itertools.pairwise(seq)) > det.threshold * MARGIN


@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes"])
def test_reencoded_or_noisy_copy_is_duplicate(name, rng):
    frame = frames(name, 41)[40]
    det = DupDetector()
    noisy = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
    for copy in (_jpeg(frame, 85), _jpeg(frame, 60), noisy):
        assert det.score(frame, copy) * MARGIN < det.threshold
        assert det.is_duplicate(frame, copy)
