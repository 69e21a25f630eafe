"""Probe and stream-decode a video file or a folder of numbered images (PyAV).

Decisions
---------
* Frames are decoded one packet at a time (``container.demux``) and yielded as they come out of
  the decoder, so memory stays bounded whatever the clip length.
* Each frame keeps its *own* timestamp (``frame.pts * time_base``) relative to the start of the
  video stream, so variable-frame-rate sources keep their true timing. A frame without a pts (or
  one that would go backwards) gets ``previous + 1/rate``.
* YUV -> RGB uses the source's matrix and range. Where the file does not say, we follow what
  players do: BT.709 for HD (height >= 720 or width >= 1280), BT.601 below; limited range unless
  the pixel format is a ``yuvj*`` (full range) one. ``VideoInfo`` records the *effective* values
  the writer should reuse (see :func:`effective_colorspace`), while the raw fields stay as the
  file states them (``None`` when unspecified).
* 8-bit sources give ``uint8`` RGB(A); sources with more than 8 bits give ``uint16`` on the full
  16-bit scale (swscale's rgb48/rgba64), so 10-bit HDR material is not truncated.
* Images are returned *unrotated* (coded orientation); ``rotation`` carries the display matrix so
  the writer can put the same matrix on the output and players show it the same way.
* Corrupt packets and frames the decoder flags as corrupt are skipped, ``on_corrupt`` is told
  once per skipped packet/frame, and decoding goes on. A truncated tail ends the stream cleanly.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from fluidframes.errors import MediaInputError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})
DEFAULT_IMAGE_FPS = Fraction(30)  # as the RIFE scripts assume for image folders

# FFmpeg AVColorSpace values -> swscale matrix names accepted by PyAV's reformatter.
_SWS_MATRIX = {
    1: "itu709",  # bt709
    4: "fcc",
    5: "itu601",  # bt470bg
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020",  # bt2020nc
    10: "bt2020",  # bt2020c (approximation: swscale has no constant-luminance path)
}
_UNSPECIFIED = 2  # AVCOL_SPC/PRI/TRC_UNSPECIFIED
_RANGE_MPEG, _RANGE_JPEG = 1, 2
_VFR_SCAN_PACKETS = 240


@dataclass
class StreamInfo:
    """An audio, subtitle or data stream of the source (copied by :mod:`.mux`)."""

    index: int
    kind: str  # 'audio' | 'subtitle' | 'data'
    codec: str
    language: str | None
    title: str | None
    duration: Fraction | None
    start: Fraction | None = None
    channels: int | None = None
    sample_rate: int | None = None


@dataclass
class Chapter:
    """A chapter in seconds (source container time)."""

    start: Fraction
    end: Fraction
    title: str | None
    id: int = 0


@dataclass
class VideoInfo:
    """What the rest of the pipeline needs to know about the source video."""

    path: Path
    width: int
    height: int
    rate: Fraction
    start: Fraction
    duration: Fraction | None
    frame_count: int | None
    vfr: bool
    rotation: int
    pix_fmt: str
    bit_depth: int
    has_alpha: bool
    color_range: int | None
    colorspace: int | None
    color_primaries: int | None
    color_trc: int | None
    sample_aspect_ratio: Fraction | None
    codec: str
    container: str
    audio: list[StreamInfo] = field(default_factory=list)
    subtitles: list[StreamInfo] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    is_image_sequence: bool = False
    image_files: list[Path] = field(default_factory=list, repr=False)
    stream_index: int = 0
    decoder: str | None = None  # explicit decoder (e.g. libvpx-vp9 for VP9 with alpha)


@dataclass
class Frame:
    """One decoded frame: ``image`` is HxWx3 (RGB) or HxWx4 (RGBA), uint8 or uint16."""

    image: np.ndarray
    pts: Fraction
    index: int


# --------------------------------------------------------------------------------------------
# colour helpers (shared with the writer)
# --------------------------------------------------------------------------------------------


def _is_hd(width: int, height: int) -> bool:
    return height >= 720 or width >= 1280


def effective_colorspace(colorspace: int | None, width: int, height: int) -> int:
    """The AVColorSpace actually used for a YUV<->RGB conversion (fills in 'unspecified')."""
    if colorspace in _SWS_MATRIX:
        return int(colorspace)  # type: ignore[arg-type]
    return 1 if _is_hd(width, height) else 6


def effective_range(color_range: int | None, pix_fmt: str) -> int:
    """The AVColorRange used for conversion: stated range, else full for yuvj*, else limited."""
    if color_range in (_RANGE_MPEG, _RANGE_JPEG):
        return int(color_range)  # type: ignore[arg-type]
    return _RANGE_JPEG if pix_fmt.startswith("yuvj") else _RANGE_MPEG


def sws_matrix(colorspace: int) -> str:
    """The swscale matrix name for an AVColorSpace value."""
    return _SWS_MATRIX.get(colorspace, "itu709")


def sws_range(color_range: int) -> str:
    return "JPEG" if color_range == _RANGE_JPEG else "MPEG"


def _spec(value: Any) -> int | None:
    """Normalise a colour enum from PyAV: ``None`` when unspecified (2) or reserved (0)."""
    if value is None:
        return None
    value = int(value)
    return None if value in (_UNSPECIFIED, 0) else value


def _range(value: Any) -> int | None:
    if value is None:
        return None
    value = int(value)
    return value if value in (_RANGE_MPEG, _RANGE_JPEG) else None


def _format_depth(fmt: av.VideoFormat) -> tuple[int, bool]:
    bits = [c.bits for c in fmt.components if not c.is_alpha] or [8]
    alpha = any(c.is_alpha for c in fmt.components)
    return max(bits), alpha


def rgb_format(bit_depth: int, alpha: bool) -> str:
    """The packed RGB(A) pixel format we hand frames over in (native byte order for 16 bit)."""
    if bit_depth <= 8:
        return "rgba" if alpha else "rgb24"
    suffix = "le" if sys.byteorder == "little" else "be"
    return ("rgba64" if alpha else "rgb48") + suffix


# --------------------------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------------------------


def _natural_key(path: Path) -> tuple:
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p)


def _list_images(folder: Path) -> list[Path]:
    files = [
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    return sorted(files, key=_natural_key)


def _open(path: Path, what: str = "video") -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except FileNotFoundError:
        raise MediaInputError(f"cannot read {path}: no such file") from None
    except PermissionError:
        raise MediaInputError(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise MediaInputError(f"cannot read {path}: is a directory") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaInputError(f"not a {what}: {path} ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def probe(path: str | Path, input_fps: Fraction | None = None) -> VideoInfo:
    """Describe a video file or a folder of numbered images.

    Raises :class:`MediaInputError` with a one-line message for unusable input.
    """
    path = Path(path)
    if not path.exists():
        raise MediaInputError(f"cannot read {path}: no such file or folder")
    if path.is_dir():
        return _probe_images(path, input_fps)
    return _probe_file(path, input_fps)


def _probe_images(folder: Path, input_fps: Fraction | None) -> VideoInfo:
    files = _list_images(folder)
    if not files:
        raise MediaInputError(f"zero frames in {folder}: no png/jpg/tif/webp images")
    rate = Fraction(input_fps) if input_fps else DEFAULT_IMAGE_FPS
    if rate <= 0:
        raise MediaInputError(f"bad input fps {input_fps} for {folder}")
    if not input_fps:
        log.info("no input fps given for image folder %s, assuming %s", folder, rate)
    with _open(files[0], "image") as container:
        if not container.streams.video:
            raise MediaInputError(f"not an image: {files[0]}")
        frame = _first_frame(container, container.streams.video[0], files[0])
        codec = container.streams.video[0].codec_context.name
    depth, alpha = _format_depth(frame.format)
    return VideoInfo(
        path=folder, width=frame.width, height=frame.height, rate=rate, start=Fraction(0),
        duration=len(files) / rate, frame_count=len(files), vfr=False, rotation=0,
        pix_fmt=frame.format.name, bit_depth=depth, has_alpha=alpha,
        color_range=_range(frame.color_range), colorspace=_spec(frame.colorspace),
        color_primaries=_spec(frame.color_primaries), color_trc=_spec(frame.color_trc),
        sample_aspect_ratio=None, codec=codec,
        container="image2", is_image_sequence=True, image_files=files,
    )


def _first_frame(container: av.container.InputContainer, stream: Any, path: Path,
                 decoder: str | None = None) -> Any:
    """The first decodable frame (with an explicit decoder, e.g. libvpx for VP9 alpha)."""
    ctx = av.CodecContext.create(decoder, "r") if decoder else stream.codec_context
    try:
        for packet in container.demux(stream):
            try:
                for frame in _decode(ctx, packet):
                    return frame
            except av.FFmpegError:
                continue
    except av.FFmpegError as exc:
        raise MediaInputError(f"cannot read {path}: {_short(exc)}") from None
    raise MediaInputError(f"zero frames in {path}")


def _decode(ctx: Any, packet: Any) -> list:
    return list(ctx.decode(packet))


def _probe_file(path: Path, input_fps: Fraction | None) -> VideoInfo:
    with _open(path) as container:
        if not container.streams.video:
            raise MediaInputError(f"no video stream in {path}")
        # Prefer a real video stream over an attached picture (cover art).
        streams = [s for s in container.streams.video if not s.disposition & 0x400] or list(
            container.streams.video
        )
        stream = streams[0]
        cc = stream.codec_context
        tb = stream.time_base or Fraction(1, 90000)
        start = Fraction(stream.start_time) * tb if stream.start_time is not None else Fraction(0)
        rate = _nominal_rate(stream, input_fps)
        duration = _duration(container, stream, start)
        frame_count = stream.frames or (round(duration * rate) if duration else None)
        decoder = None
        if _alpha_mode(stream) and cc.name in ("vp9", "vp8"):
            decoder = "libvpx-vp9" if cc.name == "vp9" else "libvpx"
        vfr = _looks_vfr(container, stream)
        index = stream.index
    # Decode the first frame from a fresh open: reliable rotation, format and colour tags.
    with _open(path) as container:
        stream = container.streams[index]
        frame = _first_frame(container, stream, path, decoder)
        depth, alpha = _format_depth(frame.format)
        alpha = alpha or decoder is not None
        cc = stream.codec_context
        audio, subtitles = _side_streams(container, tb_start=start)
        chapters = _chapters(container)
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio
        info = VideoInfo(
            path=path, width=frame.width, height=frame.height, rate=rate, start=start,
            duration=duration, frame_count=frame_count, vfr=vfr,
            rotation=_rotation(frame), pix_fmt=frame.format.name, bit_depth=depth,
            has_alpha=alpha,
            color_range=_range(frame.color_range) or _range(cc.color_range),
            colorspace=_spec(frame.colorspace) or _spec(cc.colorspace),
            color_primaries=_spec(frame.color_primaries) or _spec(cc.color_primaries),
            color_trc=_spec(frame.color_trc) or _spec(cc.color_trc),
            sample_aspect_ratio=Fraction(sar) if sar and Fraction(sar) > 0 else None,
            codec=cc.name, container=container.format.name, audio=audio,
            subtitles=subtitles, chapters=chapters, stream_index=stream.index, decoder=decoder,
        )
    log.debug("probed %s: %s", path, info)
    return info


def _alpha_mode(stream: Any) -> bool:
    """VP8/VP9 alpha lives in a side channel flagged by the (case varies) ALPHA_MODE tag."""
    return any(k.lower() == "alpha_mode" and v == "1" for k, v in stream.metadata.items())


def _rotation(frame: Any) -> int:
    try:
        rot = frame.rotation
    except (AttributeError, av.FFmpegError):
        return 0
    return round((rot or 0) / 90.0) * 90 % 360


def _nominal_rate(stream: Any, input_fps: Fraction | None) -> Fraction:
    for candidate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if candidate and 0 < Fraction(candidate) < 1000:
            return Fraction(candidate)
    if input_fps:
        return Fraction(input_fps)
    log.warning("no frame rate in stream; assuming %s", DEFAULT_IMAGE_FPS)
    return DEFAULT_IMAGE_FPS


def _duration(container: Any, stream: Any, start: Fraction) -> Fraction | None:
    if stream.duration:
        return Fraction(stream.duration) * stream.time_base
    if container.duration:
        cstart = Fraction(container.start_time or 0, 1_000_000)
        return Fraction(container.duration, 1_000_000) - (start - cstart)
    return None


def _looks_vfr(container: Any, stream: Any) -> bool:
    """Best effort: do the first packets' timestamp steps differ by more than one tick + 1 %?"""
    pts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= _VFR_SCAN_PACKETS:
                break
    except av.FFmpegError:
        pass
    pts = sorted(set(pts))
    steps = [b - a for a, b in itertools.pairwise(pts)]
    if len(steps) < 2:
        return False
    lo, hi = min(steps), max(steps)
    return hi - lo > 1 + 0.01 * hi


def _side_streams(container: Any, tb_start: Fraction) -> tuple[list[StreamInfo], list[StreamInfo]]:
    audio: list[StreamInfo] = []
    subs: list[StreamInfo] = []
    for s in container.streams:
        if s.type not in ("audio", "subtitle"):
            continue
        tb = s.time_base or Fraction(1, 1000)
        info = StreamInfo(
            index=s.index, kind=s.type, codec=s.codec_context.name,
            language=s.metadata.get("language") or s.language,
            title=s.metadata.get("title"),
            duration=Fraction(s.duration) * tb if s.duration else None,
            start=Fraction(s.start_time) * tb if s.start_time is not None else None,
        )
        if s.type == "audio":
            info.channels = s.codec_context.channels
            info.sample_rate = s.codec_context.sample_rate
            audio.append(info)
        else:
            subs.append(info)
    return audio, subs


def _chapters(container: Any) -> list[Chapter]:
    out: list[Chapter] = []
    try:
        raw = container.chapters()
    except (AttributeError, av.FFmpegError):
        return out
    for ch in raw:
        tb = Fraction(ch["time_base"])
        out.append(Chapter(
            start=Fraction(ch["start"]) * tb, end=Fraction(ch["end"]) * tb,
            title=(ch.get("metadata") or {}).get("title"), id=int(ch.get("id", len(out))),
        ))
    return out


# --------------------------------------------------------------------------------------------
# decode
# --------------------------------------------------------------------------------------------


def to_rgb_array(frame: Any, info: VideoInfo) -> np.ndarray:
    """Convert a decoded frame to HxWxC RGB(A) with the source's matrix and range."""
    fmt = rgb_format(info.bit_depth, info.has_alpha)
    kwargs: dict[str, Any] = {"format": fmt}
    src = frame.format
    if not src.is_rgb and src.name not in ("gray", "pal8") and not src.name.startswith("gray"):
        cs = effective_colorspace(_spec(frame.colorspace) or info.colorspace, frame.width,
                                  frame.height)
        rng = effective_range(_range(frame.color_range) or info.color_range, src.name)
        kwargs.update(src_colorspace=sws_matrix(cs), src_color_range=sws_range(rng),
                      dst_color_range="JPEG")
    arr = frame.to_ndarray(**kwargs)
    if arr.ndim == 2:  # defensive: gray output
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr)


def read_frames(
    info: VideoInfo, on_corrupt: Callable[[str], None] | None = None,
    start: Fraction | None = None, stop: Fraction | None = None,
) -> Iterator[Frame]:
    """Yield the frames of ``info`` in presentation order, streaming (bounded memory).

    ``start``/``stop`` (seconds, on the same scale as ``Frame.pts``) read one segment: decoding
    seeks to the keyframe at or before ``start``, frames before ``start`` are dropped unconverted,
    and the first frame at or after ``stop`` is the last one yielded (the overlap frame that
    the segment interpolates towards). Indices count from the first yielded frame.
    """
    frames = (_read_images(info, on_corrupt, start) if info.is_image_sequence
              else _read_video(info, on_corrupt, start))
    try:
        for frame in frames:
            yield frame
            if stop is not None and frame.pts >= stop:
                return
    finally:
        frames.close()


def scan_frames(info: VideoInfo) -> list[tuple[Fraction, bool]]:
    """Presentation times and keyframe flags of every video frame, from packets only.

    Demuxing without decoding is cheap (a 10-minute 1080p file scans in about a second), and
    gives what segment planning needs: where the frames are and where decoding can start.
    Times are on the ``Frame.pts`` scale (seconds from the video stream start).
    """
    if info.is_image_sequence:
        return [(n / info.rate, True) for n in range(len(info.image_files))]
    out: list[tuple[Fraction, bool]] = []
    with _open(info.path) as container:
        stream = container.streams[info.stream_index]
        tb = stream.time_base
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            out.append((Fraction(packet.pts) * tb - info.start, bool(packet.is_keyframe)))
    out.sort()
    return out


def _report(on_corrupt: Callable[[str], None] | None, msg: str) -> None:
    log.warning(msg)
    if on_corrupt is not None:
        on_corrupt(msg)


def _read_images(info: VideoInfo, on_corrupt: Callable[[str], None] | None,
                 start: Fraction | None = None) -> Iterator[Frame]:
    step = 1 / info.rate
    index = 0
    for n, file in enumerate(info.image_files):
        if start is not None and n * step < start:
            continue
        try:
            with av.open(str(file), "r") as container:
                frame = next(container.decode(video=0))
        except (av.FFmpegError, OSError, StopIteration) as exc:
            _report(on_corrupt, f"skipped unreadable image {file.name}: {_short(exc)}")
            continue
        if (frame.width, frame.height) != (info.width, info.height):
            raise MediaInputError(
                f"image {file.name} is {frame.width}x{frame.height}, "
                f"expected {info.width}x{info.height} like the first image"
            )
        yield Frame(image=to_rgb_array(frame, info), pts=n * step, index=index)
        index += 1


def _read_video(info: VideoInfo, on_corrupt: Callable[[str], None] | None,
                start: Fraction | None = None) -> Iterator[Frame]:
    container = _open(info.path)
    try:
        stream = container.streams[info.stream_index]
        if info.decoder:
            ctx = av.CodecContext.create(info.decoder, "r")
        else:
            ctx = stream.codec_context
            ctx.thread_type = "AUTO"
        tb = stream.time_base
        step = 1 / info.rate
        last: Fraction | None = None
        index = 0
        if start and tb is not None:
            target = (start + info.start) / tb
            container.seek(int(target), stream=stream, backward=True, any_frame=False)
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                _report(on_corrupt, f"stopped reading at a damaged part of {info.path.name}: "
                        f"{_short(exc)}")
                packet = None
            try:
                frames = ctx.decode(packet)
            except av.FFmpegError as exc:
                _report(on_corrupt, f"skipped corrupt packet at pts {packet and packet.pts}: "
                        f"{_short(exc)}")
                continue
            for frame in frames:
                if getattr(frame, "is_corrupt", False):
                    _report(on_corrupt, f"skipped corrupt frame at pts {frame.pts}")
                    continue
                if frame.pts is not None and tb is not None:
                    pts = Fraction(frame.pts) * tb - info.start
                    if last is not None and pts <= last:
                        pts = last + step
                else:
                    pts = (last + step) if last is not None else Fraction(0)
                last = pts
                if start is not None and pts < start:
                    continue
                yield Frame(image=to_rgb_array(frame, info), pts=pts, index=index)
                index += 1
            if packet is None:
                break
    finally:
        container.close()
    if index == 0:
        raise MediaInputError(f"zero frames in {info.path}")
