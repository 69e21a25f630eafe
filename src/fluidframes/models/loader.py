"""From a checkpoint to a ready network, one path: read -> canonicalise -> detect -> build.

* **read** (:func:`read_checkpoint`): restricted unpickling only. ``torch.load(weights_only=True)``
  rebuilds tensors and plain containers (dict, list, tuple, str, numbers) and refuses every other
  global before creating it, so a file that would need arbitrary classes or callables (a pickle
  with an ``os.system`` payload, a pickled ``nn.Module``) is refused with a one-line
  :class:`~fluidframes.errors.ModelError` (exit code 2) and nothing of it runs. Every checkpoint
  we know of (Practical-RIFE ``flownet.pkl``, the files in the zoo's wheels) loads this way.
* **canonicalise** (:func:`canonical_state_dict`): unwrap ``{"state_dict": ...}``-style
  containers, drop ``module.`` prefixes (DataParallel) and training-only keys.
* **detect** (:func:`detect_family`): name the family from explicit key/shape conditions.
* **build** (:func:`load`): the family's network with the weights loaded strictly, wrapped in a
  :class:`LoadedModel` that says what it is and what its input needs.

:func:`load_model` is the entry point: a :class:`~fluidframes.options.ModelConfig` (a zoo name,
or a file or Practical-RIFE ``train_log`` folder) -> :class:`LoadedModel`.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import ModelError
from . import ifnet
from .registry import FAMILIES, Family, get_spec

log = logging.getLogger(__name__)

#: Keys in released training checkpoints that inference never uses: dropped by this list;
#: everything else must match the architecture exactly.
TRAINING_ONLY_PREFIXES = ("teacher.", "caltime.", "block_tea.")
#: Names a Practical-RIFE model folder (``train_log/``) keeps its weights under.
FOLDER_MEMBERS = ("flownet.pkl", "flownet.pth", "model.pkl")
_CONTAINER_KEYS = ("state_dict", "model", "params", "net")


@dataclass(frozen=True)
class LoadedModel:
    """A built network with its weights, and what it is."""

    name: str  # zoo name, or the checkpoint's file name
    family: Family
    net: nn.Module  # eval mode, fp32, on the CPU

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @property
    def modulo(self) -> int:
        """Input height and width must be multiples of this (at scale 1)."""
        return self.family.modulo


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def checkpoint_file(path: str | Path) -> Path:
    """``path`` itself, or the weights file inside a Practical-RIFE model folder."""
    p = Path(path)
    if p.is_dir():
        for name in FOLDER_MEMBERS:
            if (p / name).is_file():
                return p / name
        raise ModelError(f"no model file in the folder {p.name}/ (looked for "
                         f"{', '.join(FOLDER_MEMBERS)})")
    if not p.is_file():
        raise ModelError(f"model file not found: {path}")
    return p


def read_checkpoint(path: Path) -> object:
    """Unpickle ``path`` with tensors and plain containers only; nothing else is created."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] != b"\x80" and head[:2] != b"PK":
        raise ModelError(f"not a model file: {path.name} (not a PyTorch checkpoint)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights_only" in text or "global" in text.lower():
            raise ModelError(
                f"refused {path.name}: it needs more than tensors and plain containers to load "
                "(it could run code); nothing of it was executed. Re-save its state dict with "
                "torch.save(model.state_dict(), ...)") from None
        raise ModelError(f"not a model file: {path.name} ({_first_line(exc)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, TypeError, IndexError) as exc:  # truncated or corrupt files
        raise ModelError(f"not a model file: {path.name} ({_first_line(exc)})") from None


def canonical_state_dict(obj: object, what: str = "the file") -> dict[str, Tensor]:
    """The network's tensors under the reference key names."""
    for key in _CONTAINER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise ModelError(f"{what} does not hold a state dict of tensors")
    out: dict[str, Tensor] = {}
    for key, value in obj.items():
        key = key.removeprefix("module.")
        if not key.startswith(TRAINING_ONLY_PREFIXES):
            out[key] = value
    return out


def detect_family(sd: Mapping[str, Tensor]) -> Family:
    """The family whose layer layout ``sd`` has, or a ModelError listing the supported ones."""
    variant = ifnet.detect(sd)
    for fam in FAMILIES.values():
        if fam.variant is variant:
            return fam
    raise ModelError(
        "unrecognised model file: its layers match no supported family (supported: "
        f"{', '.join(f'{f.name} ({f.description})' for f in FAMILIES.values())})")


def build(sd: Mapping[str, Tensor], family: Family, name: str) -> LoadedModel:
    """``family``'s network with ``sd`` loaded strictly."""
    net = family.build()
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        raise ModelError(f"weights do not fit {family.name}: "
                         f"{(lines[1] if len(lines) > 1 else lines[0]).strip()}") from None
    return LoadedModel(name, family, net.eval())


def load(path: str | Path, family: Family | None = None, name: str | None = None) -> LoadedModel:
    """A checkpoint file (or model folder) -> :class:`LoadedModel`; ``family`` skips detection
    (the zoo knows what its files are) but the layout is still checked strictly."""
    file = checkpoint_file(path)
    sd = canonical_state_dict(read_checkpoint(file), file.name)
    return build(sd, family or detect_family(sd), name or Path(path).name)


def load_model(config) -> LoadedModel:
    """A :class:`~fluidframes.options.ModelConfig` -> :class:`LoadedModel` (zoo weights are
    fetched and verified on first use)."""
    from . import weights

    if config.model_file:
        return load(config.model_file)
    spec = get_spec(config.name)
    return load(weights.ensure(spec), spec.family, spec.name)


__all__ = ["LoadedModel", "build", "canonical_state_dict", "checkpoint_file", "detect_family",
           "load", "load_model", "read_checkpoint"]
