"""Fixtures for the Ray tests: one local Ray (2 CPUs) per session, tiny clips, a random model.

The model has random weights (no download) but the real architecture, so the workers do the
same work per frame as with real weights; the clips are small so the whole folder stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from _media import ffmpeg

pytest.importorskip("ray")


@pytest.fixture(scope="session")
def bbb_clip(tmp_path_factory) -> Path:
    """The real Big Buck Bunny sample (with AAC audio), scaled down, a keyframe every 6 frames.

    The sample has a single keyframe; segments are cut at keyframes, so it is re-encoded with a
    short GOP (audio copied) to give several segments.
    """
    from fluidframes.samples import sample_path

    src = sample_path("bigbuckbunny")
    out = tmp_path_factory.mktemp("clips") / "bbb.mp4"
    ffmpeg("-i", str(src), "-vf", "scale=192:108", "-c:v", "libx264", "-g", "6",
           "-keyint_min", "6", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "copy", str(out))
    return out


@pytest.fixture(scope="session")
def model_file(save_random_model) -> Path:
    return save_random_model("flownet.pkl")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory, bbb_clip):
    """A local Ray with 2 CPUs; the user cache (work folders) moved into a temp folder."""
    from fluidframes.executors import ray as distributed

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("FLUIDFRAMES_CACHE")
    os.environ["FLUIDFRAMES_CACHE"] = str(cache)  # before ray.init: workers inherit it
    # Each Ray worker here holds 1 CPU and runs torch with 1 thread. Convolution results depend
    # (in the last bit, sometimes one 8-bit level after rounding) on torch's thread count, so
    # the single-process references use 1 thread too, in this process and in subprocesses.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    old_omp = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    distributed._ensure_ray(None, 2)
    yield cache
    distributed.shutdown()
    torch.set_num_threads(threads)
    if old_omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = old_omp
    if old is None:
        os.environ.pop("FLUIDFRAMES_CACHE", None)
    else:
        os.environ["FLUIDFRAMES_CACHE"] = old
