"""GIF output a user would post: palettes per scene/clip, dithering, caps, small files.

The picture source is the real bigbuckbunny sample (fluidframes.samples), scaled down with the
ffmpeg CLI; outputs are read back with ffprobe and by parsing the GIF's loop block, independently
of the code under test. The size baseline is the pipeline's old encoder, still in
``VideoWriter`` (a new palette every frame).
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _media import ffmpeg, ffprobe, video_stream

from fluidframes.cli import main
from fluidframes.metrics import psnr
from fluidframes.render import lossless_options
from fluidframes.samples import sample_path
from fluidframes.video.gif import GifSettings, write_gif
from fluidframes.video.writer import EncodeOptions, VideoWriter

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")]


@pytest.fixture(scope="module")
def bunny(tmp_path_factory):
    """2 s of bigbuckbunny at 160x90, 25 fps."""
    path = tmp_path_factory.mktemp("gif") / "bunny.mp4"
    ffmpeg("-i", str(sample_path("bigbuckbunny")), "-t", "2", "-vf", "scale=160:90",
           "-c:v", "libx264", "-crf", "10", "-c:a", "copy", str(path))
    return path


def loop_count(path: Path) -> int | None:
    """The NETSCAPE2.0 application block's loop count (0 = forever); None: plays once."""
    data = path.read_bytes()
    at = data.find(b"NETSCAPE2.0")
    if at < 0:
        return None
    sub = data[at + 11 : at + 15]  # size 3, id 1, count (little endian)
    assert sub[0] == 3 and sub[1] == 1
    return int.from_bytes(sub[2:4], "little")


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_gif_run_counts_timing_loop_and_warnings(tmp_path, bunny, model_file, capsys):
    """A trimmed 4x GIF: capped at 50 fps, exact frames and duration, loops forever; the
    summary names the palettes and the size; each warning is printed once."""
    out = tmp_path / "bunny.gif"
    rc = main(["interpolate", str(bunny), "-o", str(out), "--model-file", model_file,
               "--multi", "4", "--start", "0.5", "--duration", "1", "--crf", "20", "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    s = json.loads(cap.out)
    p = ffprobe(out, count_frames=True)
    v = video_stream(p)
    assert int(v["nb_read_frames"]) == 50 == s["frames_out"]
    assert Fraction(v["r_frame_rate"]) == 50 and abs(float(p["format"]["duration"]) - 1.0) < 1e-3
    assert loop_count(out) == 0
    assert s["gif"]["palette"] == "scene" and s["gif"]["palettes"] >= 1
    assert s["gif"]["bytes"] == out.stat().st_size and s["gif"]["fps"] == "50"
    assert s["warnings"] == ["GIF at 50 fps, not 100: browsers play faster GIFs slower "
                             "(raise --gif-fps-max up to 100)", "codec gif ignores crf"]
    assert cap.err.count("ignores crf") == 0  # in the summary only (printed once without --json)
    assert not list(tmp_path.glob(".*"))
    rc = main(["interpolate", str(bunny), "-o", str(tmp_path / "b2.gif"), "--model-file",
               model_file, "--duration", "0.2", "--crf", "20", "--gif-width", "80"])
    cap = capsys.readouterr()
    assert rc == 0 and cap.err.count("ignores crf") == 1, cap.err
    assert "GIF 80x45, 1 palette(s) (per scene)" in cap.out
    v = video_stream(ffprobe(tmp_path / "b2.gif", count_frames=True))
    assert (v["width"], v["height"], int(v["nb_read_frames"])) == (80, 45, 10)


@pytest.fixture(scope="module")
def frames(bunny, tmp_path_factory):
    """50 real frames (2 s of the sample), as the lossless segment file a GIF run makes, and
    the same frames as arrays."""
    imgs = decode(bunny)[:50]
    return _segment(tmp_path_factory.mktemp("ffv1") / "seg.mkv", imgs), imgs


def _gif(seg: Path, dst: Path, ref: list[np.ndarray], **kw) -> tuple[int, float, int]:
    """(bytes, mean PSNR against ``ref``, palettes) of a GIF made from ``seg``."""
    tmp, report = write_gif([seg], Fraction(25), dst, GifSettings(**kw))
    tmp.rename(dst)
    got = decode(dst)
    assert len(got) == len(ref) == report.frames
    return dst.stat().st_size, float(np.mean([psnr(a, b) for a, b in zip(got, ref)])), \
        report.palettes


def test_gif_is_much_smaller_than_the_old_way_at_the_same_quality(tmp_path, frames):
    seg, imgs = frames
    # the lossless intermediate is exact
    assert all(np.array_equal(a, b) for a, b in zip(decode(seg), imgs, strict=True))
    old = tmp_path / "old.gif"  # the old pipeline: a new palette every frame, one pass
    w = VideoWriter(old, 160, 90, Fraction(25), None, EncodeOptions())
    for img in imgs:
        w.write(img)
    w.close().rename(old)
    old_size = old.stat().st_size
    old_psnr = float(np.mean([psnr(a, b) for a, b in zip(decode(old), imgs)]))
    size, quality, palettes = _gif(seg, tmp_path / "new.gif", imgs)
    assert palettes == 1  # 2 s of one shot
    assert size < 0.5 * old_size, (size, old_size)
    assert quality > old_psnr, (quality, old_psnr)
    diffused, q_diffused, _ = _gif(seg, tmp_path / "sierra.gif", imgs, dither="sierra2_4a")
    assert diffused > 1.2 * size and q_diffused > old_psnr - 1
    frame_mode, _, n = _gif(seg, tmp_path / "frame.gif", imgs, palette="frame")
    assert n == 50 and frame_mode > 2 * size


def _segment(path: Path, imgs: list[np.ndarray]) -> Path:
    h, w = imgs[0].shape[:2]
    writer = VideoWriter(path, w, h, Fraction(25), None, lossless_options(False))
    for img in imgs:
        writer.write(img)
    writer.close().rename(path)
    return path


def test_still_areas_cost_nothing(tmp_path):
    """A small square moves over a still background with +-2 levels of noise (as decoded
    video has): each frame after the first costs a small part of the first."""
    rng = np.random.default_rng(7)
    x = np.linspace(0, 255, 96)[None, :, None]
    base = np.broadcast_to(np.concatenate([x, 255 - x, x / 2], 2), (64, 96, 3))
    imgs = []
    for k in range(12):
        img = base + rng.integers(-2, 3, size=base.shape)
        img[20:32, 4 + 6 * k : 16 + 6 * k] = (250, 250, 40)
        imgs.append(np.clip(img, 0, 255).astype(np.uint8))
    one, _, _ = _gif(_segment(tmp_path / "one.mkv", imgs[:1]), tmp_path / "one.gif", imgs[:1])
    all_, quality, _ = _gif(_segment(tmp_path / "all.mkv", imgs), tmp_path / "all.gif", imgs)
    assert all_ < 2.5 * one, (all_, one)
    assert quality > 28
    moving = decode(tmp_path / "all.gif")
    assert moving[11][20:32, 70:82].mean(axis=(0, 1))[2] < 100  # the square is where it is


def test_a_palette_per_scene(tmp_path):
    """Two shots with disjoint colours: a palette each beats one shared palette."""
    x = np.linspace(0, 1, 96)[None, :, None]
    y = np.linspace(0, 1, 64)[:, None, None]

    def shot(c, k):
        img = np.concatenate([x * c[0] + y * 0.3, x * c[1] + (1 - y) * 0.3, x * c[2] + 0.1 * k
                              * np.ones_like(y)], 2)
        return (np.clip(img, 0, 1) * 255).astype(np.uint8)

    imgs = [shot((1, 0.5, 0), k) for k in range(6)] + [shot((0, 0.5, 1), k) for k in range(6)]
    seg = _segment(tmp_path / "seg.mkv", imgs)
    _, q_scene, n_scene = _gif(seg, tmp_path / "scene.gif", imgs, dither="none")
    _, q_clip, n_clip = _gif(seg, tmp_path / "clip.gif", imgs, dither="none",
                               palette="clip")
    assert (n_scene, n_clip) == (2, 1)
    assert q_scene > q_clip + 1.5, (q_scene, q_clip)
