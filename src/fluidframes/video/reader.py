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
* **The probe reads every packet once** (demux only, no decoding; about a second for ten
  minutes of 1080p) and takes what it can measure over what the container states: the frame
  count is the number of video packets (a PNG renamed ``.mp4`` has one frame, like a one-frame
  mp4, and both are refused: interpolation needs two), and VFR is judged on the whole stream.
* **Rate.** A constant-rate stream keeps its stated rate. A variable-rate stream (or one whose
  stated rate is missing or absurd) gets the rate of its most common frame interval, snapped
  to a standard rate (:func:`fluidframes.timing.dominant_rate`): 24 and 30 fps parts in one
  Matroska file are not "120 fps" (its time base), and ``--multi 2`` gives 60 fps on the real
  timestamps. ``VideoInfo.notes`` says so, for the run summary. More than 1000 fps is refused
  as broken timestamps.
* **Damage is never silent.** The probe compares what can be read (packets, their times) with
  what the file declares (frame count, stream/container duration) and notices demux errors;
  while decoding, an undecodable packet or a frame the decoder flags as corrupt is damage too.
  By default both raise :class:`DamagedInputError` with one line saying how much can be read
  and how to keep it. With ``allow_partial=True`` the probe describes the damage
  (``VideoInfo.damage``, a note, ``duration``/``frame_count`` of the readable part) and the
  decoder skips what it cannot decode, tells ``on_corrupt`` once per skipped packet/frame, and
  goes on; a truncated tail ends the stream cleanly.
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

from fluidframes.errors import DamagedInputError, MediaInputError
from fluidframes.timing import MAX_PLAUSIBLE_RATE, dominant_rate

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
#: Readable video shorter than declared by more than this (or 3 frames) is damage.
_SHORT_TOLERANCE = Fraction(1, 4)
_KEEP_PARTIAL = "--allow-partial keeps the readable part"


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
    #: What is wrong with a truncated/damaged input that was allowed (``allow_partial``);
    #: ``None`` when the probe found the file whole.
    damage: str | None = None
    #: One-line facts the run should pass on to the user (VFR rate choice, partial input).
    notes: list[str] = field(default_factory=list)


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


def probe(path: str | Path, input_fps: Fraction | None = None, *,
          allow_partial: bool = False) -> VideoInfo:
    """Describe a video file or a folder of numbered images.

    Raises :class:`MediaInputError` with a one-line message for unusable input, including
    input with fewer than two frames, and :class:`DamagedInputError` for a truncated or
    damaged file unless ``allow_partial`` (then ``VideoInfo.damage`` describes it).
    """
    path = Path(path)
    if not path.exists():
        raise MediaInputError(f"cannot read {path}: no such file or folder")
    if path.is_dir():
        info = _probe_images(path, input_fps)
    else:
        info = _probe_file(path, input_fps, allow_partial)
    if info.frame_count is not None and info.frame_count < 2:
        raise MediaInputError(f"{path} has {info.frame_count} frame(s): need at least two")
    return info


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


def _probe_file(path: Path, input_fps: Fraction | None, allow_partial: bool) -> VideoInfo:
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
        stated_rate = _stated_rate(stream)
        declared = _declared_length(container, stream, start)
        decoder = None
        if _alpha_mode(stream) and cc.name in ("vp9", "vp8"):
            decoder = "libvpx-vp9" if cc.name == "vp9" else "libvpx"
        index = stream.index
    scan = _scan_file(path, index)
    times = [Fraction(p) * scan.time_base for p in scan.pts]
    vfr = _is_vfr(scan.pts)
    rate, notes = _choose_rate(path, stated_rate, times, scan.time_base, vfr, input_fps)
    duration = declared.duration
    readable = _readable_video(scan, rate, start)
    if duration is not None and duration < readable <= duration + 1 / rate + Fraction(1, 1000):
        # a container duration that ends at the last frame's start (Matroska without packet
        # durations): the last frame lasts too
        duration = readable
    damage = _damage(path, scan, declared, rate, start)
    if damage is not None:
        if not allow_partial:
            raise DamagedInputError(f"{damage}; {_KEEP_PARTIAL}")
        notes.append(f"partial input: {damage}; the output covers that part only")
        duration = _readable_video(scan, rate, start)
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
            duration=duration, frame_count=scan.count, vfr=vfr,
            rotation=_rotation(frame), pix_fmt=frame.format.name, bit_depth=depth,
            has_alpha=alpha,
            color_range=_range(frame.color_range) or _range(cc.color_range),
            colorspace=_spec(frame.colorspace) or _spec(cc.colorspace),
            color_primaries=_spec(frame.color_primaries) or _spec(cc.color_primaries),
            color_trc=_spec(frame.color_trc) or _spec(cc.color_trc),
            sample_aspect_ratio=Fraction(sar) if sar and Fraction(sar) > 0 else None,
            codec=cc.name, container=container.format.name, audio=audio,
            subtitles=subtitles, chapters=chapters, stream_index=stream.index, decoder=decoder,
            damage=damage, notes=notes,
        )
    if damage is not None:
        for side in info.audio + info.subtitles:  # what is there of them, not what was declared
            end = scan.ends.get(side.index)
            if end is not None and side.duration is not None:
                side.duration = min(side.duration, max(Fraction(0), end - (side.start or 0)))
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


def _stated_rate(stream: Any) -> Fraction | None:
    """The rate the container states, if it is usable (positive, at most 1000 fps)."""
    for candidate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if candidate and 0 < Fraction(candidate) <= MAX_PLAUSIBLE_RATE:
            return Fraction(candidate)
    return None


def _fps(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3f}".rstrip("0")


def _choose_rate(path: Path, stated: Fraction | None, times: list[Fraction], tick: Fraction,
                 vfr: bool, input_fps: Fraction | None) -> tuple[Fraction, list[str]]:
    """The source's nominal rate and the notes explaining it (module docstring, **Rate**)."""
    notes: list[str] = []
    measured = dominant_rate(times, tick)
    if measured is not None and measured > MAX_PLAUSIBLE_RATE:
        raise MediaInputError(
            f"{path.name}: frames are {float(1 / measured) * 1e6:.0f} us apart "
            f"({_fps(measured)} fps): its timestamps are broken")
    if vfr and measured is not None:
        steps = sorted(b - a for a, b in itertools.pairwise(sorted(set(times))))
        said = f"; the file says {_fps(stated)}" if stated is not None and stated != measured else ""
        notes.append(
            f"variable frame rate input (frame intervals of {_fps(1 / steps[-1])} to "
            f"{_fps(1 / steps[0])} fps{said}): timed on its real timestamps with "
            f"{_fps(measured)} fps (the most common interval) as the source rate")
        return measured, notes
    if stated is not None:
        return stated, notes
    if measured is not None:
        notes.append(f"no usable frame rate in the file: {_fps(measured)} fps measured from "
                     "its timestamps")
        return measured, notes
    if input_fps:
        return Fraction(input_fps), notes
    log.warning("no frame rate in stream; assuming %s", DEFAULT_IMAGE_FPS)
    return DEFAULT_IMAGE_FPS, notes


@dataclass
class _Declared:
    """What the container says about the video's length (``None``: it does not say)."""

    duration: Fraction | None  # seconds from the video start
    per_stream: bool  # the duration is the video stream's own (else the whole file's)
    frames: int | None


def _declared_length(container: Any, stream: Any, start: Fraction) -> _Declared:
    frames = int(stream.frames) if stream.frames else None
    if stream.duration:
        return _Declared(Fraction(stream.duration) * stream.time_base, True, frames)
    if container.duration:
        cstart = Fraction(container.start_time or 0, 1_000_000)
        return _Declared(Fraction(container.duration, 1_000_000) - (start - cstart), False,
                         frames)
    return _Declared(None, False, frames)


def _is_vfr(pts: list[int]) -> bool:
    """Do the timestamp steps differ by more than one tick + 1 % anywhere in the stream?"""
    ordered = sorted(set(pts))
    steps = [b - a for a, b in itertools.pairwise(ordered)]
    if len(steps) < 2:
        return False
    lo, hi = min(steps), max(steps)
    return hi - lo > 1 + 0.01 * hi


# --------------------------------------------------------------------------------------------
# one demux pass: frame times, keyframes, stream ends, damage
# --------------------------------------------------------------------------------------------


@dataclass
class _Scan:
    """Every packet of the file read once, without decoding."""

    time_base: Fraction  # of the video stream
    pts: list[int] = field(default_factory=list)  # video packets with a pts, in file order
    keys: list[bool] = field(default_factory=list)
    count: int = 0  # video packets with data (the frame count)
    ends: dict[int, Fraction] = field(default_factory=dict)  # stream index -> latest end (s)
    error: str | None = None  # why demuxing stopped early
    error_at: Fraction | None = None  # container time reached when it did


_SCANS: dict[tuple, _Scan] = {}


def _demux(container: Any, *streams: Any
           ) -> Iterator[tuple[Any, None] | tuple[None, av.FFmpegError]]:
    """``(packet, None)`` in file order; a demuxer error ends it as a last ``(None, error)``
    (a damaged file: what came before it is still usable)."""
    packets = container.demux(*streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            yield None, exc
            return
        yield packet, None


def _scan_file(path: Path, index: int) -> _Scan:
    """Demux the whole file once (cached for the file as it is now: probe, then segments)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, index)
    if key in _SCANS:
        return _SCANS[key]
    with _open(path) as container:
        stream = container.streams[index]
        scan = _Scan(time_base=Fraction(stream.time_base or Fraction(1, 90000)))
        reached = Fraction(0)
        for packet, error in _demux(container):
            if error is not None:
                scan.error, scan.error_at = _short(error), reached
                break
            t = packet.pts if packet.pts is not None else packet.dts
            if t is not None and packet.time_base is not None:
                end = (t + (packet.duration or 0)) * Fraction(packet.time_base)
                sid = packet.stream.index
                scan.ends[sid] = max(end, scan.ends.get(sid, end))
                reached = max(reached, end)
            if packet.stream.index != index or not packet.size:
                continue
            scan.count += 1
            if packet.pts is not None:
                scan.pts.append(packet.pts)
                scan.keys.append(bool(packet.is_keyframe))
    _SCANS.clear()  # one file at a time: probe and segment planning of the same run
    _SCANS[key] = scan
    return scan


def _readable_video(scan: _Scan, rate: Fraction, start: Fraction) -> Fraction:
    """Seconds of video (from its start) that the packets cover."""
    if not scan.pts:
        return Fraction(0)
    return max(Fraction(0), max(scan.pts) * scan.time_base + 1 / rate - start)


def _damage(path: Path, scan: _Scan, declared: _Declared, rate: Fraction,
            start: Fraction) -> str | None:
    """One line on what is missing from a truncated/damaged file; ``None`` if it looks whole."""
    video = _readable_video(scan, rate, start)
    frames = f"{scan.count} of {declared.frames} frames" if declared.frames else (
        f"{scan.count} frames")
    if scan.error is not None:
        return (f"{path.name} is damaged: reading stops at {float(scan.error_at or 0):.2f} s "
                f"({scan.error}); {float(video):.2f} s ({frames}) can be read")
    short = False
    if declared.frames and scan.count < declared.frames - max(2, declared.frames // 100):
        short = True
    if declared.duration is not None:
        tol = max(_SHORT_TOLERANCE, 3 / rate)
        have = video
        if not declared.per_stream:  # the file's duration: any stream may reach it
            have = max([video] + [e - start for e in scan.ends.values()])
        short = short or have < declared.duration - tol
    if not short:
        return None
    of = f" of its declared {float(declared.duration):.2f} s" if declared.duration else ""
    return (f"{path.name} is truncated or damaged: only {float(video):.2f} s ({frames}){of} "
            "can be read")


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
    start: Fraction | None = None, stop: Fraction | None = None, *,
    allow_partial: bool = False,
) -> Iterator[Frame]:
    """Yield the frames of ``info`` in presentation order, streaming (bounded memory).

    ``start``/``stop`` (seconds, on the same scale as ``Frame.pts``) read one segment: decoding
    seeks to the keyframe at or before ``start``, frames before ``start`` are dropped unconverted,
    and the first frame at or after ``stop`` is the last one yielded (the overlap frame that
    the segment interpolates towards). Indices count from the first yielded frame.

    Damage (an undecodable packet or image, a frame flagged corrupt, a demux error) raises
    :class:`DamagedInputError` unless ``allow_partial``; then it is skipped and reported to
    ``on_corrupt``.
    """
    report = _reporter(info, on_corrupt, allow_partial)
    frames = (_read_images(info, report, start) if info.is_image_sequence
              else _read_video(info, report, start))
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
    scan = _scan_file(info.path, info.stream_index)  # usually the probe's pass, cached
    tb = scan.time_base
    return sorted((Fraction(p) * tb - info.start, k) for p, k in zip(scan.pts, scan.keys))


_Report = Callable[[str, Fraction | None, int], None]


def _reporter(info: VideoInfo, on_corrupt: Callable[[str], None] | None,
              allow_partial: bool) -> _Report:
    """What to do with damage met while decoding: raise (default) or skip and tell."""
    def report(msg: str, at: Fraction | None, good: int) -> None:
        if not allow_partial:
            where = f" at {float(at):.2f} s" if at is not None else ""
            raise DamagedInputError(
                f"{info.path.name} is damaged{where} ({msg}; {good} frame(s) decoded before "
                "it); --allow-partial skips the damaged parts")
        log.warning("%s: skipped %s", info.path.name, msg)
        if on_corrupt is not None:
            on_corrupt(msg)

    return report


def _read_images(info: VideoInfo, report: _Report,
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
            report(f"unreadable image {file.name}: {_short(exc)}", n * step, index)
            continue
        if (frame.width, frame.height) != (info.width, info.height):
            raise MediaInputError(
                f"image {file.name} is {frame.width}x{frame.height}, "
                f"expected {info.width}x{info.height} like the first image"
            )
        yield Frame(image=to_rgb_array(frame, info), pts=n * step, index=index)
        index += 1


def _read_video(info: VideoInfo, report: _Report,
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
        sent = got = 0  # packets the decoder took without an error, frames it gave back
        if start and tb is not None:
            target = (start + info.start) / tb
            container.seek(int(target), stream=stream, backward=True, any_frame=False)
        for packet, error in _demux(container, stream):
            if error is not None:  # then packet is None: the decoder gives what it holds
                report(f"reading stopped: {_short(error)}", last, index)
            try:
                frames = ctx.decode(packet)
            except av.FFmpegError as exc:
                report(f"undecodable packet: {_short(exc)}", _when(packet, tb, info), index)
                continue
            sent += 1 if packet is not None and packet.size else 0
            got += len(frames)
            for frame in frames:
                if getattr(frame, "is_corrupt", False):
                    report("corrupt frame", _when(frame, tb, info), index)
                    continue
                if frame.pts is not None and tb is not None:
                    pts = Fraction(frame.pts) * tb - info.start
                    if last is not None and pts <= last:
                        pts = last + step
                        if info.duration is not None and pts >= info.duration:
                            # a repeated time moved past the clip's end: no place for it
                            report("frame with a repeated timestamp", _when(frame, tb, info),
                                   index)
                            continue
                else:
                    pts = (last + step) if last is not None else Fraction(0)
                last = pts
                if start is not None and pts < start:
                    continue
                yield Frame(image=to_rgb_array(frame, info), pts=pts, index=index)
                index += 1
            if packet is None:
                break
        # Frame-threaded decoders can drop the frames of a damaged tail without an error. From
        # the start of the file (not after a seek: open-GOP leading frames are legitimately
        # skipped there) every packet must come back as a frame.
        if start is None and got < sent:
            report(f"{sent - got} frame(s) lost in decoding", last, index)
    finally:
        container.close()
    if index == 0:
        raise MediaInputError(f"zero frames in {info.path}")


def _when(item: Any, tb: Fraction | None, info: VideoInfo) -> Fraction | None:
    """Seconds from the video start of a packet/frame, when it has a time."""
    t = getattr(item, "pts", None)
    if t is None or tb is None:
        return None
    return Fraction(t) * tb - info.start
