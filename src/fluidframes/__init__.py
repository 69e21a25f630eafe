"""fluidframes: smoother and slow-motion video with RIFE frame interpolation.

Public API::

    from fluidframes import Interpolator, interpolate_video, list_models
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import FluidFramesError, InputError, MediaError, ModelError, WeightsError
from .models.registry import list_models


def __getattr__(name: str):
    # Heavy imports (torch, PyAV) only when used.
    if name == "Interpolator":
        from .engine import Interpolator

        return Interpolator
    if name == "interpolate_video":
        from .pipeline import interpolate_video

        return interpolate_video
    raise AttributeError(name)


__all__ = [
    "FluidFramesError",
    "InputError",
    "Interpolator",
    "MediaError",
    "ModelError",
    "WeightsError",
    "interpolate_video",
    "list_models",
]
