"""The model zoo: architectures (one module per family), the registry and weight handling."""

from .registry import MODELS, ModelSpec, get_spec, list_models

__all__ = ["MODELS", "ModelSpec", "get_spec", "list_models"]
