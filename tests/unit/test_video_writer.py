"""Encoding: containers/codecs, odd sizes, colour/SAR/rotation carried (checked with ffprobe)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from _media import (
    encode_frames,
    ffmpeg,
    ffprobe,
    lavfi_testsrc,
    needs_ffmpeg,
    packet_times,
    video_stream,
)

from fluidframes.errors import InputError
from fluidframes.video import probe, read_frames
from fluidframes.video.mux import finalize
from fluidframes.video.writer import EncodeOptions, VideoWriter, output_kind, plan_encoding


def gradient(h: int, w: int, n: int = 0, alpha: bool = False) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                    np.full_like(x, (40 * n) % 256)], axis=2).astype(np.uint8)
    if alpha:
        img = np.concatenate([img, (x * 255 // max(w - 1, 1)).astype(np.uint8)[..., None]], 2)
    return img


def write_clip(dst: Path, w: int, h: int, n: int = 6, rate=Fraction(24), info=None,
               opts=None, alpha=False, high=False, finish=True) -> Path:
    writer = VideoWriter(dst, w, h, rate, info, opts or EncodeOptions(), alpha=alpha,
                         high_bit_depth=high)
    for k in range(n):
        writer.write(gradient(h, w, k, alpha))
    tmp = writer.close()
    if not finish:
        return tmp
    finalize(tmp, dst, info)
    return dst


@pytest.mark.parametrize("name,kind", [
    ("a.mp4", "mp4"), ("a.M4V", "mp4"), ("a.mkv", "mkv"), ("a.mov", "mov"),
    ("a.webm", "webm"), ("a.gif", "gif"), ("frames", "png-folder"),
])
def test_output_kind(name: str, kind: str) -> None:
    assert output_kind(name) == kind


def test_output_kind_unknown_extension() -> None:
    with pytest.raises(InputError, match=r"\.avi"):
        output_kind("clip.avi")
    assert output_kind("clip.mp4", png=True) == "png-folder"


@pytest.mark.parametrize("dst,codec", [("o.webm", "libx264"), ("o.mp4", "prores"),
                                        ("o.webm", "h264"), ("o.mp4", "nosuchcodec")])
def test_codec_container_mismatch_fails_before_any_file(tmp_path: Path, dst: str,
                                                        codec: str) -> None:
    out = tmp_path / "sub" / dst
    with pytest.raises(InputError) as err:
        VideoWriter(out, 32, 32, Fraction(24), None, EncodeOptions(codec=codec))
    assert codec in str(err.value)
    if codec != "nosuchcodec":
        assert out.suffix[1:] in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_abort_leaves_no_files(tmp_path: Path) -> None:
    for dst in (tmp_path / "new" / "deep" / "o.mp4", tmp_path / "frames"):
        writer = VideoWriter(dst, 32, 32, Fraction(24), None,
                             EncodeOptions(png=dst.suffix == ""))
        for k in range(3):
            writer.write(gradient(32, 32, k))
        assert list(tmp_path.rglob("*"))
        writer.abort()
        assert list(tmp_path.rglob("*")) == []


@needs_ffmpeg
def test_cfr_output_timestamps_are_exact(tmp_path: Path) -> None:
    dst = write_clip(tmp_path / "o.mkv", 32, 32, n=10, rate=Fraction(30000, 1001))
    pts = sorted(packet_times(dst))
    assert len(pts) == 10
    # mkv stores milliseconds: every frame within half a tick of n*1001/30000.
    assert all(abs(p - n * 1001 / 30000) <= 0.0005 for n, p in enumerate(pts))
    st = video_stream(ffprobe(dst))
    assert st["r_frame_rate"] == "30000/1001"


@needs_ffmpeg
def test_odd_size_pads_for_420_and_keeps_exact_size_elsewhere(tmp_path: Path) -> None:
    # no pix_fmt asked for: x264 4:4:4 keeps the odd size (and the plan says so)
    st = video_stream(ffprobe(write_clip(tmp_path / "auto.mp4", 97, 65)))
    assert (st["width"], st["height"], st["pix_fmt"]) == (97, 65, "yuv444p")
    # 4:2:0 asked for: padded to even, and the note names both sizes
    plan = plan_encoding(tmp_path / "x.mp4", 97, 65, None, EncodeOptions(pix_fmt="yuv420p"))
    assert (plan.width, plan.height) == (98, 66) and "97x65" in plan.notes[0]
    assert "98x66" in plan.notes[0]
    mp4 = write_clip(tmp_path / "o.mp4", 97, 65, opts=EncodeOptions(pix_fmt="yuv420p"))
    st = video_stream(ffprobe(mp4))
    assert (st["width"], st["height"], st["pix_fmt"]) == (98, 66, "yuv420p")
    frame = next(iter(read_frames(probe(mp4))))
    # the padding repeats the edge: last column ~ the one before it (not black)
    assert np.abs(frame.image[:, 97].astype(int) - frame.image[:, 96].astype(int)).mean() < 6
    for name, opts in (("o444.mkv", EncodeOptions(pix_fmt="yuv444p")),
                       ("o.webm", EncodeOptions())):
        st = video_stream(ffprobe(write_clip(tmp_path / name, 97, 65, opts=opts)))
        assert (st["width"], st["height"]) == (97, 65)


@needs_ffmpeg
def test_colour_metadata_and_sar_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src.mkv"
    ffmpeg(*lavfi_testsrc("64x48", 25), "-frames:v", "5",
           "-vf", "setsar=4/3,scale=out_color_matrix=bt470bg:out_range=pc",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-color_range", "pc",
           "-colorspace", "bt470bg", "-color_primaries", "bt470bg", "-color_trc", "gamma28",
           str(src))
    info = probe(src)
    assert info.sample_aspect_ratio == Fraction(4, 3)
    assert (info.color_range, info.colorspace) == (2, 5)
    dst = tmp_path / "out.mp4"
    writer = VideoWriter(dst, info.width, info.height, info.rate, info, EncodeOptions())
    src_frames = [f.image for f in read_frames(info)]
    for img in src_frames:
        writer.write(img)
    finalize(writer.close(), dst, info)
    a, b = video_stream(ffprobe(src)), video_stream(ffprobe(dst))
    for key in ("color_range", "color_space", "color_primaries", "color_transfer",
                "sample_aspect_ratio"):
        assert b.get(key) == a.get(key), key
    # and the pixels come back the same (right matrix/range both ways)
    back = next(iter(read_frames(probe(dst)))).image.astype(float)
    first = src_frames[0].astype(float)
    # a wrong matrix or range shifts channel means by 5-20 levels; x264 loss does not
    assert np.abs(back.mean((0, 1)) - first.mean((0, 1))).max() < 2
    assert np.abs(back - first).mean() < 8


@needs_ffmpeg
def test_rotation_display_matrix_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "rot.mp4"
    encode_frames(src, [gradient(48, 64, n) for n in range(4)], rotation=90)

    def rotation(path: Path) -> float:
        side = video_stream(ffprobe(path)).get("side_data_list", [])
        return next(float(d["rotation"]) for d in side if "rotation" in d)

    info = probe(src)
    assert info.rotation == 90 and (info.width, info.height) == (64, 48)
    dst = tmp_path / "out.mov"
    writer = VideoWriter(dst, 64, 48, info.rate, info, EncodeOptions())
    for f in read_frames(info):
        assert f.image.shape == (48, 64, 3)  # frames stay unrotated
        writer.write(f.image)
    finalize(writer.close(), dst, info)
    assert rotation(dst) == rotation(src) != 0
    assert probe(dst).rotation == 90


@needs_ffmpeg
def test_ten_bit_output(tmp_path: Path) -> None:
    dst = write_clip(tmp_path / "o.mkv", 32, 32, high=True)
    assert video_stream(ffprobe(dst))["pix_fmt"] == "yuv420p10le"
    img = next(iter(read_frames(probe(dst)))).image
    assert img.dtype == np.uint16


@needs_ffmpeg
@pytest.mark.parametrize("name,pix", [("o.mov", "yuva444p"), ("o.webm", "yuva420p")])
def test_alpha_outputs_keep_alpha(tmp_path: Path, name: str, pix: str) -> None:
    dst = write_clip(tmp_path / name, 32, 24, alpha=True)
    info = probe(dst)
    assert info.has_alpha
    img = next(iter(read_frames(info))).image
    assert img.shape == (24, 32, 4)
    alpha = img[..., 3].astype(float) / (257 if img.dtype == np.uint16 else 1)
    expect = gradient(24, 32, 0, alpha=True)[..., 3].astype(float)
    assert np.abs(alpha - expect).mean() < 6


def test_mp4_drops_alpha_with_a_note(tmp_path: Path, caplog) -> None:
    """Planning says so in ``notes`` (shown once by the caller), never as a logged warning:
    a run plans once up front and again in every segment's writer."""
    with caplog.at_level(logging.WARNING):
        dst = write_clip(tmp_path / "o.mp4", 32, 24, alpha=True)
    assert not probe(dst).has_alpha and "alpha" not in caplog.text
    plan = plan_encoding(dst, 32, 24, None, EncodeOptions(), alpha=True)
    assert plan.notes == ["mp4 cannot hold an alpha channel; dropping alpha (use .mov, .webm "
                          "or --png)"]
    assert plan_encoding(dst.with_suffix(".gif"), 32, 24, None,
                         EncodeOptions(crf=20)).notes == ["codec gif ignores crf"]


def test_gif_and_png_folder(tmp_path: Path) -> None:
    gif = write_clip(tmp_path / "o.gif", 33, 21, n=5)
    info = probe(gif)
    assert (info.width, info.height) == (33, 21)
    frames = list(read_frames(info))
    assert len(frames) == 5
    assert np.abs(frames[2].image[..., :3].astype(int) - gradient(21, 33, 2)).mean() < 12
    folder = write_clip(tmp_path / "pngs", 33, 21, n=3, alpha=True, high=True,
                        opts=EncodeOptions(png=True))
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["frame_000001.png", "frame_000002.png", "frame_000003.png"]
    img = next(iter(read_frames(probe(folder)))).image
    assert img.dtype == np.uint16 and img.shape == (21, 33, 4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_writer_refuses_to_overwrite_source(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "src.mkv", 32, 32, n=2)
    info = probe(src)
    with pytest.raises(InputError, match="overwrite"):
        VideoWriter(src, 32, 32, Fraction(24), info, EncodeOptions())
