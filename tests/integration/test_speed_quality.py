"""Quality guard: every fast path against the fp32 eager reference, real weights, real frames.

Drop-frame triplets (frames i, i+2 predict i+1): the PSNR against the true middle frame may move
by at most 0.05 dB on fp32 paths and 0.2 dB on bf16/fp16 paths; the path-vs-reference PSNR is
printed (measured: fp32 fast path 87-91 dB, i.e. rounding only; bf16 convolutions ~60 dB).
"""

from __future__ import annotations

import numpy as np
import pytest

from fluidframes.metrics import psnr

pytestmark = pytest.mark.slow

# (clip, first frame, triplets, stride): 720p motion and small fast motion
TRIPLETS = {"bigbuckbunny": (20, 1, 40), "bikes": (0, 2, 30)}
PATHS = [("torch", "fp32", 0.05), ("torch", "bf16", 0.2)]


_REF: dict = {}  # reference outputs, shared by the fp32 and bf16 tests of a model


def _scores(interp, ref, frames, n, stride):
    gt_ours, gt_ref, vs_ref = [], [], []
    for k in range(n):
        a, gt, b = frames[k * stride], frames[k * stride + 1], frames[k * stride + 2]
        key = (ref.info.name, a.shape, k, stride, int(a[::97, ::89].sum()))
        if key not in _REF:
            _REF[key] = ref.interpolate(a, b, 0.5)
        o, r = interp.interpolate(a, b, 0.5), _REF[key]
        gt_ours.append(psnr(o, gt))
        gt_ref.append(psnr(r, gt))
        vs_ref.append(psnr(o, r))
    return float(np.mean(gt_ours)), float(np.mean(gt_ref)), float(np.min(vs_ref))


@pytest.mark.parametrize("backend,precision,limit", PATHS)
@pytest.mark.parametrize("model", ["rife-4.25", "rife-4.6"])
def test_fast_paths_keep_quality(real_interpolator, sample_frames, model, backend, precision,
                                 limit):
    ref = real_interpolator(model, precision="fp32", backend="eager")
    fast = real_interpolator(model, precision=precision, backend=backend)
    assert fast.info.backend == backend
    for clip, (start, n, stride) in TRIPLETS.items():
        frames = sample_frames(clip, n * stride + 3, start)
        ours, base, worst = _scores(fast, ref, frames, n, stride)
        print(f"{model} {backend}/{precision} {clip}: PSNR {ours:.3f} vs reference {base:.3f} "
              f"({ours - base:+.3f} dB), path-vs-reference >= {worst:.1f} dB")
        assert abs(ours - base) <= limit
        assert worst > (50 if precision == "fp32" else 40)


def test_batched_timesteps_match_single_calls(real_interpolator, sample_frames):
    fast = real_interpolator("rife-4.25", precision="fp32", backend="torch")
    a, _, b = sample_frames("bikes", 3, 60)
    ts = [0.25, 0.5, 0.75]
    batch = fast.run(fast.prepare(a), fast.prepare(b), ts)
    for t, x in zip(ts, batch):
        assert psnr(x, fast.interpolate(a, b, t)) > 55
