"""Architectures, family detection and strict loading, all with random weights."""

from __future__ import annotations

import pytest
import torch

from fluidframes.errors import ModelError
from fluidframes.models import ifnet, loader, registry


@pytest.mark.parametrize("variant", [ifnet.V4_6, ifnet.V4_25])
def test_published_layer_shapes(variant):
    shapes = ifnet.expected_shapes(variant)
    blocks = len(variant.widths)
    assert f"block{blocks - 1}.lastconv.0.weight" in shapes
    assert f"block{blocks}.conv0.0.0.weight" not in shapes
    assert shapes["block0.conv0.0.0.weight"][1] == (7 if variant is ifnet.V4_6 else 15)
    assert shapes["block1.conv0.0.0.weight"][1] == (12 if variant is ifnet.V4_6 else 28)
    assert shapes["block0.lastconv.0.weight"][1] == (24 if variant is ifnet.V4_6 else 52)
    assert ("encode.cnn3.weight" in shapes) == (variant is ifnet.V4_25)


@pytest.mark.parametrize("family", list(registry.FAMILIES))
def test_detect_each_family(family):
    sd = registry.FAMILIES[family].build().state_dict()
    assert loader.detect_family(sd).name == family


def test_detect_handles_prefix_and_training_keys():
    sd = registry.FAMILIES["rife-v4.25"].build().state_dict()
    wrapped = {f"module.{k}": v for k, v in sd.items()}
    wrapped["module.teacher.conv0.0.0.weight"] = torch.zeros(32, 31, 3, 3)
    wrapped["caltime.0.weight"] = torch.zeros(32, 17, 3, 3)
    stripped = loader.canonical_state_dict({"state_dict": wrapped})
    assert set(stripped) == set(sd)
    loaded = loader.build(stripped, loader.detect_family(stripped), "x")
    assert loaded.family.name == "rife-v4.25"


def test_unknown_state_dict_lists_families():
    sd = {"conv1.weight": torch.zeros(8, 3, 3, 3)}
    with pytest.raises(ModelError, match="rife-v4.6.*rife-v4.25"):
        loader.detect_family(sd)


def test_strict_load_rejects_extra_and_missing_keys():
    fam = registry.FAMILIES["rife-v4.6"]
    sd = fam.build().state_dict()
    extra = dict(sd, **{"block0.unknown.weight": torch.zeros(1)})
    with pytest.raises(ModelError, match="do not fit"):
        loader.build(extra, fam, "x")
    missing = {k: v for k, v in sd.items() if not k.startswith("block3.convblock.7")}
    with pytest.raises(ModelError):
        loader.build(missing, fam, "x")


def test_read_state_dict_from_file(tmp_path):
    sd = registry.FAMILIES["rife-v4.6"].build().state_dict()
    path = tmp_path / "flownet.pkl"
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)
    loaded = loader.load(path)
    assert loaded.family.name == "rife-v4.6" and loaded.name == "flownet.pkl"
    got = loaded.net.state_dict()
    assert all(torch.equal(got[k], sd[k]) for k in sd)
    # a Practical-RIFE model folder (train_log/) holding flownet.pkl loads the same
    assert loader.load(tmp_path).family.name == "rife-v4.6"


def test_read_state_dict_bad_files(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_text("hello, not a model")
    with pytest.raises(ModelError, match="not a model file"):
        loader.load(junk)
    with pytest.raises(ModelError, match="not found"):
        loader.load(tmp_path / "missing.pkl")
    lst = tmp_path / "list.pkl"
    torch.save([1, 2, 3], lst)
    with pytest.raises(ModelError, match="state dict"):
        loader.load(lst)


def test_unknown_model_name():
    with pytest.raises(ModelError, match="rife-4.25"):
        registry.get_spec("rife-9000")


def test_warp_zero_flow_is_identity_and_integer_shift_moves():
    img = torch.rand(1, 3, 16, 24)
    flow = torch.zeros(1, 2, 16, 24)
    assert torch.allclose(ifnet.warp(img, flow), img, atol=1e-5)
    flow[:, 0] = 2.0  # sample two pixels to the right
    out = ifnet.warp(img, flow)
    assert torch.allclose(out[..., :-2], img[..., 2:], atol=1e-5)
    assert torch.allclose(out[..., -1], img[..., -1], atol=1e-5)  # border clamp
