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


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, random_models) -> str:
    """A tiny-cost random-weight rife-v4.6 checkpoint on disk (fast end-to-end runs)."""
    net, _ = random_models["rife-v4.6"]
    path = tmp_path_factory.mktemp("model") / "tiny.pkl"
    torch.save(net.state_dict(), path)
    return str(path)
