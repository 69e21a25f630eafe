"""--loop: the frames after the last one are interpolated towards the first, so the output
plays as a seamless loop; its length stays exact.

The input is a perfectly periodic pan over a real frame (np.roll by 20 px per frame over a
240 px wide crop, 12 frames: frame 12 would be frame 0 again), so the true in-between frames are
known, the wrap step included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fluidframes.metrics import psnr
from fluidframes.pipeline import interpolate_video

pytestmark = pytest.mark.integration

N, SHIFT = 12, 20  # N * SHIFT == the crop's width: a seamless loop


def _truth(base: np.ndarray, pos: float) -> np.ndarray:
    """The pan half-way between frames (an exact whole-pixel roll: SHIFT is even)."""
    k = int(np.floor(pos))
    assert pos - k == 0.5 and SHIFT % 2 == 0
    return np.roll(base, k * SHIFT + SHIFT // 2, axis=1)


@pytest.fixture(scope="module")
def loop_folder(tmp_path_factory, sample_frames) -> tuple[Path, np.ndarray]:
    frame = sample_frames("bigbuckbunny", 1, start=40)[0]
    base = np.ascontiguousarray(frame[200:344, 300:300 + N * SHIFT])  # 240x144, real texture
    folder = tmp_path_factory.mktemp("loop") / "pan"
    folder.mkdir()
    for i in range(N):
        Image.fromarray(np.roll(base, i * SHIFT, axis=1)).save(folder / f"{i:03d}.png")
    return folder, base


def _frames(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


@pytest.mark.parametrize("loop", [True, False])
def test_loop_wraps_seamlessly(loop_folder, tmp_path, loop):
    folder, base = loop_folder
    out = tmp_path / "out"
    s = interpolate_video(folder, out, multi=2, input_fps=10, png=True, loop=loop,
                          model="rife-4.6", device="cpu", scene_detect=False)
    frames = _frames(out)
    assert s.frames_out == len(frames) == 2 * N  # exact length, loop or not
    # content enters at the left and right borders in every step (the pan goes through the
    # frame edge), which no model can know: compare inside a border of 2 steps' width
    def score(img, truth):
        return psnr(img[:, 2 * SHIFT:-2 * SHIFT], truth[:, 2 * SHIFT:-2 * SHIFT])

    mids = [score(frames[2 * k + 1], _truth(base, k + 0.5)) for k in range(N - 1)]
    wrap = score(frames[-1], _truth(base, N - 0.5))
    print(f"\nloop={loop}: in-clip steps {min(mids):.2f}-{max(mids):.2f} dB, wrap step {wrap:.2f} dB")
    if loop:
        # the step from the last frame to the first is an ordinary interpolated step
        assert wrap >= min(mids) - 1.0
        assert s.interpolated == N
    else:
        # without --loop the last frame is held: visibly worse than an interpolated step
        assert wrap < min(mids) - 3.0
        assert np.array_equal(frames[-1], frames[-2])
