"""The command line: pair, models, and one-line errors with the right exit codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fluidframes.cli import main


@pytest.fixture
def model_file(tmp_path, random_models):
    net, _ = random_models["rife-v4.6"]
    path = tmp_path / "flownet.pkl"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def images(tmp_path, rng):
    a = rng.integers(0, 256, (30, 44, 3), dtype=np.uint8)
    b = np.roll(a, 2, axis=1)
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    return pa, pb


def test_pair_single_default_name(images, model_file, capsys):
    pa, pb = images
    assert main(["pair", str(pa), str(pb), "--model-file", str(model_file), "--device", "cpu"]) == 0
    out = pa.with_name("a_to_b_t0.500.png")
    assert out.is_file() and np.asarray(Image.open(out)).shape == (30, 44, 3)
    assert str(out) in capsys.readouterr().out
    # never overwritten without --overwrite
    assert main(["pair", str(pa), str(pb), "--model-file", str(model_file)]) == 2
    assert "exists" in capsys.readouterr().err


def test_pair_multi_writes_numbered_frames(images, model_file, tmp_path):
    pa, pb = images
    outdir = tmp_path / "frames"
    rc = main(["pair", str(pa), str(pb), "--multi", "4", "-o", str(outdir), "--model-file",
               str(model_file)])
    assert rc == 0
    assert sorted(p.name for p in outdir.iterdir()) == [f"a_to_b_0{k}.png" for k in (1, 2, 3)]


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--t", "1.5"], "strictly between"),
        (["--multi", "1"], "multi must be a whole number from 2 to 64"),
        (["--model", "nope"], "unknown model"),
        (["--scale", "3"], "scale"),
        (["--threads", "0"], "threads"),
    ],
)
def test_pair_bad_options_one_line(images, model_file, capsys, extra, needle):
    pa, pb = images
    args = ["pair", str(pa), str(pb), *extra]
    if "--model" not in extra:
        args += ["--model-file", str(model_file)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_threads_option_sets_torch_threads(images, model_file, tmp_path):
    import torch

    pa, pb = images
    before = torch.get_num_threads()
    try:
        assert main(["pair", str(pa), str(pb), "--model-file", str(model_file), "--threads", "1",
                     "-o", str(tmp_path / "mid.png")]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_pair_unreadable_and_mismatched(tmp_path, images, model_file, capsys):
    pa, _ = images
    txt = tmp_path / "x.png"
    txt.write_text("not an image")
    assert main(["pair", str(pa), str(txt), "--model-file", str(model_file)]) == 2
    assert "cannot read image" in capsys.readouterr().err
    small = tmp_path / "s.png"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(small)
    assert main(["pair", str(pa), str(small), "--model-file", str(model_file)]) == 2
    assert "the images differ: 44x30 RGB vs 10x10 RGB" in capsys.readouterr().err
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((30, 44, 4), np.uint8)).save(rgba)
    assert main(["pair", str(pa), str(rgba), "--model-file", str(model_file)]) == 2
    assert "44x30 RGB vs 44x30 RGBA" in capsys.readouterr().err


def test_pair_never_overwrites_its_input(images, model_file, capsys):
    pa, pb = images
    before = pa.read_bytes()
    rc = main(["pair", str(pa), str(pb), "-o", str(pa), "--overwrite", "--model-file",
               str(model_file)])
    assert rc == 2 and "is an input" in capsys.readouterr().err
    assert pa.read_bytes() == before


def test_unknown_model_file_lists_families(tmp_path, images, capsys):
    pa, pb = images
    bogus = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, bogus)
    assert main(["pair", str(pa), str(pb), "--model-file", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "rife-v4.6" in err and "rife-v4.25" in err


def test_models_list(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FLUIDFRAMES_CACHE", str(tmp_path))
    assert main(["models", "list", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    assert "rife-4.25 (default)" in names and "rife-4.6" in names
    assert all(r["cached"] == "no" for r in rows)
    assert all(r["licence"] == "MIT" for r in rows)
