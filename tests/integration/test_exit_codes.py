"""Exit codes at the edges: unwritable places, a full disk, Ctrl-C while starting.

User-side failures (where the output goes, how much room there is) are exit 2 with one line;
Ctrl-C at any moment is exit 130 with one line; never a traceback.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from _media import make_clip

pytestmark = pytest.mark.integration


def _cli(args: list[str], *, fsize: int | None = None, timeout: float = 300):
    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a terminal gives it
        if fsize is not None:  # a "full disk": writes past fsize bytes fail with EFBIG
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "fluidframes.cli", *args], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=child)


def _one_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("c") / "c.mp4", size="320x240", rate="10",
                     seconds=1.0, audio=False)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_unwritable_special_folder(clip, model_file, tmp_path):
    r = _cli(["interpolate", str(clip), "-o", "/proc/x.mp4", "--model-file", model_file,
              "--quiet"])
    assert r.returncode == 2 and "cannot write /proc/x.mp4" in _one_line(r.stderr)
    a = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(a)
    r = _cli(["pair", str(a), str(a), "-o", "/proc/x.png", "--model-file", model_file])
    assert r.returncode == 2 and "cannot write /proc/x.png" in _one_line(r.stderr)


def test_full_disk_with_png_output(clip, model_file, tmp_path):
    out = tmp_path / "frames"
    r = _cli(["interpolate", str(clip), "--png", "-o", str(out), "--model-file", model_file,
              "--quiet"],
             fsize=20_000)  # each 320x240 PNG of the test pattern is larger than this
    assert r.returncode == 2
    assert "the disk is full" in _one_line(r.stderr)
    assert not out.exists()


def _wait_for_library(pid: int, name: str, timeout: float = 60) -> bool:
    """Until the process has mapped a shared library (it is importing that package now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if name in Path(f"/proc/{pid}/maps").read_text():
                return True
        except OSError:
            return False
        time.sleep(0.005)
    return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_ctrl_c_while_starting(clip, model_file, tmp_path):
    # SIGINT while torch is being imported (the CLI is still starting); other moments of a run:
    # tests/fuzz/test_interrupts.py
    out = tmp_path / "o.mp4"
    p = subprocess.Popen(
        [sys.executable, "-m", "fluidframes.cli", "interpolate", str(clip), "-o", str(out),
         "--model-file", model_file, "--quiet"],
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert _wait_for_library(p.pid, "libtorch")
    os.kill(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert _one_line(err).startswith("fluidframes:") and "interrupted" in err
    assert not out.exists()
