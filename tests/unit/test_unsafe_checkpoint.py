"""A checkpoint that would run code when unpickled is refused, and nothing of it runs.

The payload creates a file when unpickled (``open(path, "w")``), so "nothing executed" is
checked by the file's absence. Every way in is tried: the library loader, the Interpolator,
``interpolate`` and ``pair`` on the command line, and ``serve --model-file``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fluidframes.cli import main
from fluidframes.errors import ModelError
from fluidframes.models import loader


class _CreatesFile:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _evil(tmp_path: Path, how: str) -> tuple[Path, Path]:
    marker = tmp_path / f"pwned-{how}"
    evil = tmp_path / f"evil-{how}.pkl"
    payload = {"block0.conv0.0.0.weight": torch.zeros(1), "x": _CreatesFile(marker)}
    if how == "zip":
        torch.save(payload, evil)
    elif how == "legacy":
        torch.save(payload, evil, _use_new_zipfile_serialization=False)
    else:  # a bare pickle, as an attacker would write it
        evil.write_bytes(pickle.dumps(payload, protocol=2))
    assert not marker.exists()
    return evil, marker


FORMATS = ["zip", "legacy", "pickle"]


def test_the_payload_really_runs_when_unpickled(tmp_path):
    # guards the guard: a full unpickle of the same file does create the marker
    evil, marker = _evil(tmp_path, "pickle")
    pickle.loads(evil.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("how", FORMATS)
def test_loader_refuses(tmp_path, how):
    evil, marker = _evil(tmp_path, how)
    with pytest.raises(ModelError, match="refused .*nothing of it was executed"):
        loader.load(evil)
    assert not marker.exists()


@pytest.mark.parametrize("how", FORMATS)
def test_cli_refuses_with_exit_2(tmp_path, how, capsys):
    evil, marker = _evil(tmp_path, how)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p in (a, b):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(p)
    assert main(["pair", str(a), str(b), "--model-file", str(evil)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fluidframes: error:") and "\n" not in err and "Traceback" not in err
    # interpolate refuses it too (the input exists; the model is what fails)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(folder / f"{i:03d}.png")
    rc = main(["interpolate", str(folder), "-o", str(tmp_path / "out.mp4"), "--model-file",
               str(evil), "--quiet"])
    assert rc == 2
    assert not (tmp_path / "out.mp4").exists()
    assert not marker.exists()


def test_serve_refuses_before_serving(tmp_path, capsys):
    pytest.importorskip("fastapi")
    evil, marker = _evil(tmp_path, "zip")
    rc = main(["serve", "--model-file", str(evil), "--data", str(tmp_path / "data"),
               "--port", "1"])
    assert rc == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()
