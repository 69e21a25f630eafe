"""The model zoo: architectures (:mod:`.ifnet`), the families and named models
(:mod:`.registry`), checkpoint loading (:mod:`.loader`) and the zoo's weight files
(:mod:`.weights`)."""

from .registry import MODELS, ModelSpec, get_spec, list_models

__all__ = ["MODELS", "ModelSpec", "get_spec", "list_models"]
