"""What every interpolator offers on numpy frames, written once for single models
(:class:`fluidframes.engine.Interpolator`) and ensembles (:class:`fluidframes.ensemble.Ensemble`).

A subclass provides ``prepare(img)`` (the per-frame work), ``run(p0, p1, ts)`` (frames at
times ``ts`` between two prepared frames) and ``_check_frame(img, what)``; this class adds the
checks of times and frame pairs, :meth:`interpolate`, :meth:`interpolate_many` and the memory
of the last frames handed in. It imports neither module (the engine builds ensembles).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import InputError


def check_t(t: float | Fraction) -> float:
    """A time strictly between 0 and 1 as a float, or a one-line :class:`InputError`."""
    try:
        tf = float(t)
    except (TypeError, ValueError):
        raise InputError(f"t must be a number strictly between 0 and 1, got {t!r}") from None
    if not 0.0 < tf < 1.0:
        raise InputError(f"t must be strictly between 0 and 1, got {tf:g}")
    return tf


class FrameInterpolator:
    """The numpy conveniences shared by every interpolator (see the module's docstring)."""

    # The last frames given to interpolate()/interpolate_many() and what prepare() made of
    # them. Callers walking a video pair by pair (interpolate(a, b), interpolate(b, c), ...) or
    # asking several times of one pair hand in each frame twice; recognising it by content (one
    # ~1 ms compare per 720p frame, never by id(), since arrays are mutable) saves the second
    # prepare: rife-4.25's encoder and the per-frame downscales (measured: `interpolate` per new
    # frame then costs what prepare + run costs, see benchmarks/README.md).
    keep_prepared = 2  # frames remembered; 0 turns the memory off (the plain baseline)

    def prepare(self, img: np.ndarray) -> Any:  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def run(self, p0: Any, p1: Any, ts: Sequence[float]) -> list[np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _check_frame(self, img: np.ndarray, what: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def interpolate(self, img0: np.ndarray, img1: np.ndarray, t: float = 0.5) -> np.ndarray:
        """The frame at time ``t`` (strictly between 0 and 1) between ``img0`` and ``img1``."""
        return self.interpolate_many(img0, img1, [t])[0]

    def interpolate_many(
        self, img0: np.ndarray, img1: np.ndarray, ts: Sequence[float]
    ) -> list[np.ndarray]:
        """Frames at each time of ``ts`` between ``img0`` and ``img1``, in order."""
        self._check_frame(img0, "img0")
        self._check_frame(img1, "img1")
        if img0.shape != img1.shape or img0.dtype != img1.dtype:
            raise InputError(
                f"img0 and img1 differ: {img0.shape} {img0.dtype} vs {img1.shape} {img1.dtype}"
            )
        ts = [check_t(t) for t in ts]
        if not ts:
            return []
        return self.run(self._prepare_cached(img0), self._prepare_cached(img1), ts)

    def _prepare_cached(self, img: np.ndarray) -> Any:
        if self.keep_prepared <= 0:
            return self.prepare(img)
        cache = self.__dict__.setdefault("_prep_cache", [])
        for frame, prep in list(cache):
            if frame.shape == img.shape and frame.dtype == img.dtype and np.array_equal(frame, img):
                return prep
        prep = self.prepare(img)
        cache.append((np.array(img, copy=True), prep))
        del cache[: len(cache) - self.keep_prepared]
        return prep

    def clear_cache(self) -> None:
        """Forget the frames remembered by :meth:`interpolate` (frees their tensors)."""
        self.__dict__.pop("_prep_cache", None)
