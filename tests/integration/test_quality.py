"""Real weights on real footage: drop a frame, predict it back, compare with the truth."""

from __future__ import annotations

import numpy as np
import pytest
from plain_rife import rife425

from fluidframes.metrics import blend, psnr, ssim
from fluidframes.models import loader, registry, weights

pytestmark = pytest.mark.slow

# (clip, first frame, triplets, stride): frames i, i+2 predict i+1.
CLIPS = {"bikes": (0, 6, 12), "bigbuckbunny": (20, 4, 20), "carphone": (0, 6, 18)}


def _triplet_scores(interp, frames, n, stride):
    model, base = [], []
    for k in range(n):
        a, gt, b = frames[k * stride], frames[k * stride + 1], frames[k * stride + 2]
        out = interp.interpolate(a, b, 0.5)
        model.append((psnr(out, gt), ssim(out, gt)))
        base.append((psnr(blend(a, b), gt), ssim(blend(a, b), gt)))
    return np.mean(model, axis=0), np.mean(base, axis=0)


@pytest.mark.parametrize("model", ["rife-4.25", "rife-4.6"])
@pytest.mark.parametrize("clip", ["bikes", "bigbuckbunny"])
def test_models_beat_blending_on_motion(real_interpolator, sample_frames, model, clip):
    start, n, stride = CLIPS[clip]
    frames = sample_frames(clip, n * stride + 3, start)
    (mp, ms), (bp, bs) = _triplet_scores(real_interpolator(model), frames, n, stride)
    print(f"{clip} {model}: PSNR {mp:.2f} (blend {bp:.2f})  SSIM {ms:.4f} (blend {bs:.4f})")
    # Both clips have strong motion; measured margins are 3-10 dB, the floor keeps room for noise.
    assert mp > bp + 2.5
    assert ms > bs


def test_low_motion_clip_no_worse_than_blending(real_interpolator, sample_frames):
    start, n, stride = CLIPS["carphone"]
    frames = sample_frames("carphone", n * stride + 3, start)
    (mp, ms), (bp, bs) = _triplet_scores(real_interpolator("rife-4.25"), frames, n, stride)
    assert mp > bp - 0.5 and ms > bs - 0.01


def test_engine_matches_plain_forward_pass(real_interpolator, sample_frames):
    interp = real_interpolator("rife-4.25", precision="fp32")
    sd = loader.canonical_state_dict(loader.read_checkpoint(weights.ensure(registry.get_spec("rife-4.25"))))
    frames = sample_frames("bikes", 3, 40)
    a, gt, b = frames
    ours = interp.interpolate(a, b, 0.5)
    plain = rife425(sd, a, b, 0.5)
    assert abs(psnr(ours, gt) - psnr(plain, gt)) < 0.01
    assert psnr(ours, plain) > 50
    # and at another time step
    ours3 = interp.interpolate(a, b, 0.3)
    assert psnr(ours3, rife425(sd, a, b, 0.3)) > 50
