"""Shared fixtures: tiny random-weight models (unit) and real weights/clips (integration)."""

from __future__ import annotations

from pathlib import Path

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
def save_random_model(tmp_path_factory, random_models):
    """Writes the random-weight rife-v4.6 checkpoint under a file name of the caller's choice."""

    def save(name: str) -> Path:
        net, _ = random_models["rife-v4.6"]
        path = tmp_path_factory.mktemp("model") / name
        torch.save(net.state_dict(), path)
        return path

    return save


@pytest.fixture(scope="session")
def model_file(save_random_model) -> str:
    """A tiny-cost random-weight rife-v4.6 checkpoint on disk (fast end-to-end runs)."""
    return str(save_random_model("tiny.pkl"))
