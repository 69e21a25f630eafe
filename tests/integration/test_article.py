"""The RIFE article's commands, with `fluidframes interpolate` in place of
`python inference_video.py`, on real footage (Big Buck Bunny with its audio, cut short).

Checked with ffprobe: names, frame counts, rates, audio. The model is a Practical-RIFE-style
``train_log/`` folder made here (random weights: these tests are about the command line, not
about picture quality), except the first command, which runs the real default model.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from _media import audio_stream, ffmpeg, ffprobe, rate, stream_duration, video_stream

from fluidframes.cli import main
from fluidframes.models import registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """1.2 s of the real sample at 320x180, 25 fps, AAC audio, called demo.mp4 as in the article."""
    from fluidframes.samples import sample_path

    d = tmp_path_factory.mktemp("article")
    out = d / "demo.mp4"
    ffmpeg("-i", str(sample_path("bigbuckbunny")), "-t", "1.2", "-vf", "scale=320:180",
           "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out))
    return out


@pytest.fixture(scope="module")
def train_log(tmp_path_factory) -> Path:
    """A Practical-RIFE model folder: train_log/flownet.pkl (a v4.6 state dict)."""
    d = tmp_path_factory.mktemp("model") / "train_log"
    d.mkdir()
    torch.manual_seed(0)
    net = registry.FAMILIES["rife-v4.6"].build()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, d / "flownet.pkl")
    return d


def _run(args: list[str], capsys) -> dict:
    rc = main(["interpolate", *args, "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def _check(path: Path, frames: int, fps: Fraction, width: int, audio: bool = True) -> dict:
    p = ffprobe(path, count_frames=True)
    v = video_stream(p)
    assert int(v["nb_read_frames"]) == frames
    assert rate(v) == fps
    assert int(v["width"]) == width and int(v["height"]) == 180
    a = audio_stream(p)
    assert (a is not None) == audio
    if audio:  # the audio lasts as long as the video, within one output frame
        assert abs(stream_duration(a) - stream_duration(v)) <= 1 / float(fps) + 0.03
    return p


def test_exp2_video_montage(demo, tmp_path, capsys):
    # python inference_video.py --exp=2 --video=demo.mp4 --montage  -> demo_4X_100fps.mp4
    src = tmp_path / "demo.mp4"
    shutil.copy(demo, src)
    s = _run(["--exp=2", f"--video={src}", "--montage", "--model=rife-4.6"], capsys)
    out = tmp_path / "demo_4X_100fps.mp4"
    assert Path(s["output"]) == out and s["in_sync"]
    _check(out, 4 * 30, Fraction(100), 640)


def test_exp_with_fps_means_more_frames_at_that_rate(demo, train_log, tmp_path, capsys):
    # --exp=2 --fps=60: 4x the frames, written at 60 fps (plays 100/60 times slower, audio too)
    src = tmp_path / "demo.mp4"
    shutil.copy(demo, src)
    s = _run(["--exp=2", "--fps=60", f"--video={src}", f"--model={train_log}"], capsys)
    out = tmp_path / "demo_4X_60fps.mp4"
    assert Path(s["output"]) == out and s["in_sync"]
    assert Fraction(s["tempo"]) == Fraction(60, 100)
    p = _check(out, 120, Fraction(60), 320)
    assert abs(float(video_stream(p)["duration"]) - 2.0) < 0.02


@pytest.mark.parametrize("flags,name,fps,scale", [
    (["--exp=1", "--UHD"], "demo_2X_50fps.mp4", 50, 0.5),
    (["--exp=1", "--scale=0.5"], "demo_2X_50fps.mp4", 50, 0.5),
    (["--exp=1", "--fps=60"], "demo_2X_60fps.mp4", 60, 1.0),
    (["--exp=1", "--ext=mkv"], "demo_2X_50fps.mkv", 50, 1.0),
    (["--exp=1", "--fp16"], "demo_2X_50fps.mp4", 50, 1.0),
])
def test_article_switches(demo, train_log, tmp_path, capsys, flags, name, fps, scale):
    src = tmp_path / "demo.mp4"
    shutil.copy(demo, src)
    s = _run([*flags, f"--video={src}", f"--model={train_log}"], capsys)
    assert Path(s["output"]) == tmp_path / name and s["in_sync"]
    assert s["model"] == "train_log"
    _check(tmp_path / name, 60, Fraction(fps), 320)  # 2x the 30 frames either way
    if "--fp16" in flags:  # half precision for this device: bf16 on a CPU that has it
        from fluidframes.engine import _cpu_has_bf16

        assert s["precision"] == ("bf16" if _cpu_has_bf16() else "fp32")


def test_png_and_img_folder(demo, train_log, tmp_path, capsys):
    # --exp=1 --video=demo.mp4 --png, then --img=<that folder>
    src = tmp_path / "demo.mp4"
    shutil.copy(demo, src)
    s = _run(["--exp=1", f"--video={src}", "--png", f"--model={train_log}"], capsys)
    folder = tmp_path / "demo_2X_50fps"
    assert Path(s["output"]) == folder and len(list(folder.glob("*.png"))) == 60
    assert s["output_duration"] == pytest.approx(1.2)
    s = _run(["--exp=1", f"--img={folder}", "--input-fps=50", f"--model={train_log}"], capsys)
    assert Path(s["output"]) == tmp_path / "demo_2X_50fps_2X_100fps.mp4"
    _check(Path(s["output"]), 120, Fraction(100), 320, audio=False)
