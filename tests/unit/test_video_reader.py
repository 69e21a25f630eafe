"""Probe and decode: exact CFR/VFR timestamps, colour conversion, image folders, bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _media import encode_frames, ffmpeg, lavfi_testsrc, needs_ffmpeg
from PIL import Image

from fluidframes.errors import DamagedInputError, MediaInputError
from fluidframes.video import probe, read_frames
from fluidframes.video.reader import to_rgb_array


def _grey_ramp(count: int, size=(64, 48)) -> list[np.ndarray]:
    """``count`` flat grey frames, each a different level."""
    return [np.full((size[1], size[0], 3), (60 + n * 20) % 256, np.uint8) for n in range(count)]


@needs_ffmpeg
def test_cfr_frames_and_pts_are_exact(tmp_path: Path) -> None:
    src = tmp_path / "cfr.mp4"
    ffmpeg(*lavfi_testsrc("96x64", "24000/1001"), "-frames:v", "12",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src))
    info = probe(src)
    assert (info.width, info.height) == (96, 64)
    assert info.rate == Fraction(24000, 1001)
    assert info.frame_count == 12 and not info.vfr and not info.is_image_sequence
    frames = list(read_frames(info))
    assert [f.index for f in frames] == list(range(12))
    assert [f.pts for f in frames] == [Fraction(n * 1001, 24000) for n in range(12)]
    assert frames[0].image.shape == (64, 96, 3) and frames[0].image.dtype == np.uint8


def test_vfr_uses_each_frames_own_timestamp(tmp_path: Path) -> None:
    src = tmp_path / "vfr.mkv"
    pts_ms = [0, 40, 120, 130, 250, 260, 400]
    encode_frames(src, _grey_ramp(len(pts_ms)), pts=pts_ms, time_base=Fraction(1, 1000), rate=25)
    info = probe(src)
    assert info.vfr
    got = [f.pts for f in read_frames(info)]
    assert got == [Fraction(p, 1000) for p in pts_ms]


def test_cfr_mkv_is_not_flagged_vfr(tmp_path: Path) -> None:
    # 24 fps in a 1 ms time base gives 41/42 ms steps: still constant rate.
    src = tmp_path / "cfr.mkv"
    encode_frames(src, _grey_ramp(30), time_base=Fraction(1, 24), rate=24)
    assert not probe(src).vfr


def _yuv_frame(y: int, u: int, v: int, size=(32, 32), fmt="yuv420p") -> av.VideoFrame:
    frame = av.VideoFrame(size[0], size[1], fmt)
    for plane, val in zip(frame.planes, (y, u, v)):
        plane.update(np.full(plane.buffer_size, val, np.uint8).tobytes())
    return frame


def _fake_info(pix_fmt: str, colorspace, color_range, size=(32, 32)):
    from fluidframes.video.reader import VideoInfo

    return VideoInfo(
        path=Path("x"), width=size[0], height=size[1], rate=Fraction(25), start=Fraction(0),
        duration=None, frame_count=None, vfr=False, rotation=0, pix_fmt=pix_fmt, bit_depth=8,
        has_alpha=False, color_range=color_range, colorspace=colorspace, color_primaries=None,
        color_trc=None, sample_aspect_ratio=None, codec="h264", container="mp4",
    )


def test_limited_and_full_range_are_expanded_correctly() -> None:
    info = _fake_info("yuv420p", 1, 1)
    white = to_rgb_array(_yuv_frame(235, 128, 128), info)
    black = to_rgb_array(_yuv_frame(16, 128, 128), info)
    assert white.min() >= 253 and black.max() <= 2
    full = _fake_info("yuv420p", 1, 2)
    frame = _yuv_frame(235, 128, 128)
    frame.color_range = 2
    # Full range: Y=235 is light grey, not white.
    assert 230 <= to_rgb_array(frame, full).mean() <= 238


def _expected_rgb(y: int, cb: int, cr: int, kr: float, kb: float) -> np.ndarray:
    """Limited-range YCbCr -> RGB from the textbook formula for matrix (kr, kb)."""
    yy, pb, pr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    r = yy + 2 * (1 - kr) * pr
    b = yy + 2 * (1 - kb) * pb
    g = (yy - kr * r - kb * b) / (1 - kr - kb)
    return np.array([r, g, b]) * 255


def test_matrix_follows_tags_and_hd_default() -> None:
    sample = (100, 128, 170)
    bt709 = _expected_rgb(*sample, 0.2126, 0.0722)
    bt601 = _expected_rgb(*sample, 0.299, 0.114)
    assert abs(bt709 - bt601).max() > 8  # the two readings differ visibly

    def read(colorspace, size=(32, 32)) -> np.ndarray:
        frame = _yuv_frame(*sample, size=size)
        info = _fake_info("yuv420p", colorspace, 1, size)
        return to_rgb_array(frame, info).reshape(-1, 3).mean(0)

    assert abs(read(1) - bt709).max() < 3  # tagged bt709
    assert abs(read(6) - bt601).max() < 3  # tagged smpte170m
    assert abs(read(None, (1280, 720)) - bt709).max() < 3  # untagged HD -> bt709
    assert abs(read(None, (640, 480)) - bt601).max() < 3  # untagged SD -> bt601


def test_ten_bit_source_gives_uint16(tmp_path: Path) -> None:
    src = tmp_path / "ten.mkv"
    encode_frames(src, _grey_ramp(3), time_base=Fraction(1, 25), rate=25, pix_fmt="yuv420p10le")
    info = probe(src)
    assert info.bit_depth == 10 and info.pix_fmt == "yuv420p10le"
    img = next(iter(read_frames(info))).image
    assert img.dtype == np.uint16 and img.shape == (48, 64, 3)
    assert img.max() > 255  # full 16-bit scale, not 10-bit values


def test_image_folder_natural_order_and_rate(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for n in (1, 2, 10):  # lexical order would put 10 before 2
        Image.fromarray(np.full((20, 30, 4), n, np.uint8), "RGBA").save(folder / f"f{n}.png")
    (folder / "notes.txt").write_text("not an image")
    info = probe(folder, input_fps=Fraction(30))
    assert info.is_image_sequence and info.has_alpha and info.frame_count == 3
    frames = list(read_frames(info))
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 2, 10]
    assert [f.pts for f in frames] == [Fraction(n, 30) for n in range(3)]
    assert frames[0].image.shape == (20, 30, 4)


def test_sixteen_bit_png_folder(tmp_path: Path) -> None:
    folder = tmp_path / "deep"
    folder.mkdir()
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 8, 8, "rgb48be", Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.full((8, 8, 3), 40000, np.uint16), format="rgb48le")
    data = b"".join(bytes(p) for p in ctx.encode(frame.reformat(format="rgb48be")))
    (folder / "0001.png").write_bytes(data)
    (folder / "0002.png").write_bytes(data)  # one image alone is refused: two frames needed
    info = probe(folder)
    assert info.bit_depth == 16 and info.rate == Fraction(30)  # default for image folders
    img = next(iter(read_frames(info))).image
    assert img.dtype == np.uint16 and abs(int(img[0, 0, 0]) - 40000) < 2


@pytest.mark.parametrize("kind", ["text", "empty_dir", "missing", "audio_only", "empty_file"])
def test_bad_inputs_raise_media_input_error(tmp_path: Path, kind: str) -> None:
    if kind == "text":
        path = tmp_path / "fake.mp4"
        path.write_text("this is not a video\n" * 50)
    elif kind == "empty_dir":
        path = tmp_path / "nothing"
        path.mkdir()
    elif kind == "missing":
        path = tmp_path / "nope.mp4"
    elif kind == "empty_file":
        path = tmp_path / "empty.mkv"
        path.write_bytes(b"")
    else:
        path = tmp_path / "tone.m4a"
        with av.open(str(path), "w") as out:
            st = out.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            out.mux(st.encode(frame))
            out.mux(st.encode(None))
    with pytest.raises(MediaInputError) as err:
        probe(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path.name) in msg
    if kind == "audio_only":
        assert msg.startswith("no video stream")


def test_corrupt_packets_are_skipped_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "clip.mkv"
    images = [np.full((32, 32, 3), 20 * n, np.uint8) for n in range(10)]
    encode_frames(src, images, codec="mjpeg", pix_fmt="yuvj420p", rate=25, corrupt=(3, 6))
    messages: list[str] = []
    with pytest.raises(DamagedInputError, match="--allow-partial"):  # never silently
        list(read_frames(probe(src)))
    frames = list(read_frames(probe(src), on_corrupt=messages.append, allow_partial=True))
    assert len(messages) == 2
    assert [f.pts for f in frames] == [Fraction(n, 25) for n in range(10) if n not in (3, 6)]
    assert [f.index for f in frames] == list(range(8))
