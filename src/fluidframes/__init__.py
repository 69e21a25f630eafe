"""fluidframes: smoother and slow-motion video with RIFE frame interpolation.

Public API (imported lazily: ``import fluidframes`` loads neither torch nor PyAV)::

    from fluidframes import Interpolator, interpolate_video, list_models
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import FluidFramesError, InputError, MediaError, ModelError, WeightsError

_LAZY = {
    "Interpolator": ("engine", "Interpolator"),
    "load_interpolator": ("engine", "load_interpolator"),
    "interpolate_video": ("pipeline", "interpolate_video"),
    "list_models": ("models.registry", "list_models"),
    "ModelConfig": ("options", "ModelConfig"),
    "VideoOptions": ("options", "VideoOptions"),
    "RunOptions": ("options", "RunOptions"),
    "RunSummary": ("report", "RunSummary"),
    "Progress": ("report", "Progress"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(name)


__all__ = ["FluidFramesError", "InputError", "MediaError", "ModelError", "WeightsError",
           *_LAZY]
