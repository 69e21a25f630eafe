"""Streaming: memory does not grow with the length of the clip."""

from __future__ import annotations

import threading

import pytest
import torch
from _media import make_clip, needs_ffmpeg

from fluidframes.pipeline import interpolate_video

pytestmark = [needs_ffmpeg, pytest.mark.slow]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_rss_flat_over_a_long_clip(tmp_path, random_models):
    net, _ = random_models["rife-v4.6"]
    model = tmp_path / "tiny.pkl"
    torch.save(net.state_dict(), model)
    src = make_clip(tmp_path / "long.mp4", size="320x192", seconds=24, audio=True)
    samples: list[tuple[int, float]] = []
    total = 24 * 24 * 2

    def progress(p):
        samples.append((p.frames_out, rss_mb()))

    done = threading.Event()
    s = interpolate_video(src, tmp_path / "out.mp4", model_file=str(model), multi=2,
                          segment_seconds=0, progress=progress)
    done.set()
    assert s.frames_out == total
    early = [r for n, r in samples if 0.2 * total <= n <= 0.35 * total]
    late = [r for n, r in samples if n >= 0.85 * total]
    assert early and late
    growth = max(late) - max(early)
    print(f"\nRSS {max(early):.0f} MB at 20-35% -> {max(late):.0f} MB at 85-100% "
          f"(+{growth:.1f} MB over {total} frames)")
    # Bounded queues: a few frames in flight whatever the length. Allow allocator noise.
    assert growth < 40
