"""Shared fixtures: tiny random-weight models (unit) and real weights/clips (integration)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fluidframes.models import registry
from fluidframes.models.ifnet import IFNet


@pytest.fixture(scope="session")
def random_models() -> dict[str, tuple[IFNet, registry.Family]]:
    """Each supported family with deterministic random weights (no download)."""
    out = {}
    for i, fam in enumerate(registry.FAMILIES.values()):
        torch.manual_seed(i)
        net = fam.build().eval()
        out[fam.name] = (net, fam)
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
