"""Real weights and real footage, fetched once into the user cache (see fluidframes.samples)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from fluidframes.samples import sample_path

_interps: dict = {}


@pytest.fixture(scope="session")
def real_interpolator():
    """Factory: a real-weight Interpolator per (model, precision), loaded once per session."""
    from fluidframes.engine import Interpolator

    def get(model: str = "rife-4.25", **kw) -> Interpolator:
        key = (model, tuple(sorted(kw.items())))
        if key not in _interps:
            _interps[key] = Interpolator(model=model, device="cpu", **kw)
        return _interps[key]

    return get


def decode_frames(name: str, count: int, start: int = 0) -> list[np.ndarray]:
    out = []
    with av.open(str(sample_path(name))) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                out.append(frame.to_ndarray(format="rgb24"))
    return out


@pytest.fixture(scope="session")
def sample_frames():
    cache: dict = {}

    def get(name: str, count: int, start: int = 0) -> list[np.ndarray]:
        key = (name, count, start)
        if key not in cache:
            cache[key] = decode_frames(name, count, start)
        return cache[key]

    return get
