"""Shared fixtures (tiny random-weight models) and the markers every test gets by its place.

Markers are applied here, in one place, by folder (a ``pytestmark`` in a conftest.py does
nothing): tests/integration -> ``integration``, tests/distributed -> ``distributed``, tests/fuzz ->
``fuzz``,
tests/server/test_e2e_browser.py -> ``e2e``. ``slow`` and ``gpu`` are set on the tests
themselves; a ``gpu`` test is skipped, with the reason, where torch sees no CUDA device.
See docs/TESTING.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fluidframes.models import registry
from fluidframes.models.ifnet import IFNet

_TESTS = Path(__file__).parent
_BY_PLACE = {  # a path under tests/ (a folder or a file) -> the marker its tests get
    "integration": "integration",
    "distributed": "distributed",
    "fuzz": "fuzz",
    "server/test_e2e_browser.py": "e2e",
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_cuda = None
    for item in items:
        if item.path.is_relative_to(_TESTS):
            rel = item.path.relative_to(_TESTS).as_posix()
            for place, marker in _BY_PLACE.items():
                if rel == place or rel.startswith(place + "/"):
                    item.add_marker(marker)
        if item.get_closest_marker("gpu") is not None:
            if no_cuda is None:
                no_cuda = not torch.cuda.is_available()
            if no_cuda:
                item.add_marker(pytest.mark.skip(
                    reason="gpu test: torch.cuda.is_available() is False on this machine"))


@pytest.fixture(autouse=True, scope="session")
def _test_cache(tmp_path_factory: pytest.TempPathFactory):
    """The runs the tests make keep their work folders in a cache of this session's, never in
    the user's; models and samples are the user's (linked), so nothing is fetched twice."""
    from fluidframes._wheels import cache_root

    real, mine = cache_root(), tmp_path_factory.mktemp("cache")
    for part in ("models", "samples"):
        (real / part).mkdir(parents=True, exist_ok=True)
        (mine / part).symlink_to(real / part, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLUIDFRAMES_CACHE", str(mine))
        yield mine


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
