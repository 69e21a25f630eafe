"""CUDA: the real rife-4.25 on the GPU (fp16 convolutions) against fp32 on the CPU, real frames.

Marked ``gpu``: tests/conftest.py skips these, with the reason, where torch sees no CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fluidframes.metrics import psnr
from fluidframes.pipeline import interpolate_video

pytestmark = [pytest.mark.gpu, pytest.mark.slow]  # slow: the fp32 reference runs on the CPU

# Drop-frame triplets (frames i, i+2 predict i+1): 720p slow motion and 640x272 fast motion.
TRIPLETS = {"bigbuckbunny": 20, "bikes": 60}


def test_cuda_fp16_matches_cpu_fp32(real_interpolator, sample_frames):
    from fluidframes.engine import Interpolator

    cpu = real_interpolator("rife-4.25", precision="fp32")
    gpu = Interpolator(model="rife-4.25", device="cuda", precision="fp16")
    assert (gpu.info.device, gpu.info.precision) == ("cuda", "fp16")
    for clip, start in TRIPLETS.items():
        a, truth, b = sample_frames(clip, 3, start)
        on_gpu, on_cpu = gpu.interpolate(a, b, 0.5), cpu.interpolate(a, b, 0.5)
        assert on_gpu.shape == on_cpu.shape == a.shape and on_gpu.dtype == np.uint8
        # fp16 rounding only: a wrong flow, mask or padding costs far more than this
        assert psnr(on_gpu, on_cpu) > 40, clip
        assert abs(psnr(on_gpu, truth) - psnr(on_cpu, truth)) <= 0.2, clip


def test_interpolate_video_on_cuda(tmp_path, real_interpolator, sample_frames):
    frames = sample_frames("bikes", 9, 60)
    src = tmp_path / "src"
    src.mkdir()
    for n, f in enumerate(frames):
        Image.fromarray(f).save(src / f"{n:04d}.png")
    out = tmp_path / "out"
    s = interpolate_video(src, out, model="rife-4.25", device="cuda", multi=2, png=True,
                          input_fps="25", scene_detect=False)
    assert s.device == "cuda"
    got = [np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))]
    assert len(got) == s.frames_out == 2 * len(frames)
    cpu = real_interpolator("rife-4.25", precision="fp32")
    for k in range(len(frames) - 1):
        assert np.array_equal(got[2 * k], frames[k]), k  # source frames pass through exactly
        assert psnr(got[2 * k + 1], cpu.interpolate(frames[k], frames[k + 1], 0.5)) > 40, k
