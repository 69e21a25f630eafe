"""Encode RGB(A) frames at a constant rate into a video-only intermediate (PyAV).

Decisions
---------
* **Validate first, create files second.** :func:`plan_encoding` resolves container, encoder,
  pixel format and options without touching the disk; a codec the container cannot hold (asked
  of FFmpeg itself via ``supported_codecs``) raises :class:`InputError` before any file exists.
* **Defaults.** mp4/mov/mkv: libx264, yuv420p, CRF 18, preset medium (yuv420p10le, i.e. x264
  High 10, when ``high_bit_depth``). webm: libvpx-vp9, CRF 30 with ``b=0`` (constant quality).
  gif: per-frame palette through ``palettegen``/``paletteuse`` (stats_mode=single, new=1), one
  pass. The pipeline does not use it: its GIFs are made from lossless FFV1 segments in two
  passes with a palette per clip or scene (:mod:`fluidframes.video.gif`).
  png-folder: ``frame_000001.png``..., 8 or 16 bit, RGBA when alpha.
* **Alpha.** mov -> ProRes 4444 (prores_ks, yuva444p10le); webm/mkv -> VP9 yuva420p; gif keeps
  1-bit transparency; png-folder -> RGBA. mp4 cannot carry alpha: warning, alpha dropped.
* **Odd frame sizes are kept** wherever the format allows it. VP9 (webm) codes them even in
  4:2:0; PNG, GIF, RGB and 4:4:4 formats have no chroma subsampling. H.264/HEVC 4:2:0 cannot
  represent an odd width/height (their cropping works in whole chroma samples), so for an odd
  size with no ``pix_fmt`` asked for, the encoder's 4:4:4 format is chosen instead (x264 High
  4:4:4: exact size, fewer hardware players) and a note says so. Only where 4:2:0 is forced
  (``pix_fmt=yuv420p``, an encoder without 4:4:4) is the frame padded right/bottom to the next
  even size by repeating the edge pixels (no black line), and a note names both sizes. Notes
  are in ``EncodePlan.notes`` for the caller to show (the run summary's warnings).
* **Colour.** RGB is converted to YUV with the *same* matrix and range the reader used for the
  source (stated tags, else BT.709 for HD / BT.601 for SD, limited range unless yuvj), and the
  output is tagged with range/matrix/primaries/transfer, so players show the same colours. The
  sample aspect ratio and the rotation (display matrix) are carried too; frames stay unrotated.
* **Timing.** Frame ``n`` gets pts ``n`` in time base ``1/rate`` - exact, no float drift.
* **Files.** The intermediate lives next to the destination as ``.{name}.video-XXXXXXXX{ext}``
  (same filesystem, so :func:`fluidframes.video.mux.finalize` can rename it); :meth:`abort`
  removes it and anything else this writer created.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np

from fluidframes.errors import InputError, MediaError
from fluidframes.video.reader import (
    VideoInfo,
    effective_colorspace,
    effective_range,
    rgb_format,
    sws_matrix,
    sws_range,
)

log = logging.getLogger(__name__)

_EXT_KIND = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "mkv", ".webm": "webm", ".gif": "gif",
}
_MUXER = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm", "gif": "gif"}
_CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "hevc": "libx265", "h265": "libx265", "x265": "libx265",
    "vp9": "libvpx-vp9", "vp8": "libvpx", "av1": "libsvtav1", "svtav1": "libsvtav1",
    "prores": "prores_ks",
}
_ODD_OK_CODECS = frozenset({"libvpx", "libvpx-vp9"})
_DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 30, "libvpx": 10, "libsvtav1": 30}
_MATRIX_DEFAULT_TAGS = {1: (1, 1), 5: (5, 6), 6: (6, 6), 7: (7, 7), 9: (9, 14), 10: (9, 14)}


@dataclass
class EncodeOptions:
    """User encoding choices; ``None`` means the container's default."""

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    png: bool = False


@dataclass
class EncodePlan:
    """Everything decided before a file is created."""

    kind: str
    muxer: str | None
    codec: str
    pix_fmt: str
    width: int  # encoded size (may be padded)
    height: int
    options: dict[str, str] = field(default_factory=dict)
    alpha: bool = False
    high_bit_depth: bool = False
    colorspace: int | None = None
    color_range: int | None = None
    color_primaries: int | None = None
    color_trc: int | None = None
    is_yuv: bool = True
    #: What the user should know (alpha dropped, padding, options the codec ignores). Planning
    #: only collects them: it runs once when a run is planned and again in every segment's
    #: writer, so logging here printed each one several times. The caller shows them once
    #: (the pipeline: the run summary's warnings).
    notes: list[str] = field(default_factory=list)


def output_kind(path: str | Path, png: bool = False) -> str:
    """'mp4', 'mkv', 'mov', 'webm', 'gif' or 'png-folder' for a destination path."""
    path = Path(path)
    if png or path.suffix == "" or path.is_dir():
        return "png-folder"
    kind = _EXT_KIND.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"unknown output type '{path.suffix}' for {path.name}: use .mp4, .mkv, .mov, "
            ".webm, .gif or a folder (--png)"
        )
    return kind


def _supported(kind: str, codec: str) -> bool:
    with av.open(io.BytesIO(), "w", format=_MUXER[kind]) as probe_container:
        return codec in probe_container.supported_codecs


def _resolve_codec(kind: str, opts: EncodeOptions, alpha: bool) -> str:
    if opts.codec:
        name = _CODEC_ALIASES.get(opts.codec.lower(), opts.codec.lower())
        if name not in av.codecs_available:
            raise InputError(f"unknown codec '{opts.codec}' (not in this FFmpeg build)")
        try:
            codec = av.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            raise InputError(f"codec '{opts.codec}' cannot encode") from None
        if codec.type != "video":
            raise InputError(f"codec '{opts.codec}' is not a video codec")
        if kind != "png-folder" and not _supported(kind, name):
            raise InputError(f"the {kind} container cannot hold codec '{opts.codec}'")
        if kind == "png-folder" and name != "png":
            raise InputError(f"a png folder cannot hold codec '{opts.codec}'")
        return name
    if kind == "png-folder":
        return "png"
    if kind == "gif":
        return "gif"
    if kind == "webm":
        return "libvpx-vp9"
    if alpha and kind == "mov":
        return "prores_ks"
    if alpha and kind == "mkv":
        return "libvpx-vp9"
    return "libx264"


def _formats(codec: str) -> list[str]:
    return [f.name for f in (av.Codec(codec, "w").video_formats or [])]


def _pick_pix_fmt(codec: str, alpha: bool, high: bool) -> str:
    """Best pixel format the encoder offers for (alpha, high bit depth), most compatible first."""
    available = _formats(codec)
    if codec == "png":
        prefs = ["rgba64be", "rgba"] if alpha and high else ["rgba"] if alpha else (
            ["rgb48be", "rgb24"] if high else ["rgb24"])
    elif codec == "gif":
        prefs = ["pal8"]
    elif codec == "prores_ks":
        prefs = ["yuva444p10le"] if alpha else ["yuv422p10le"]
    else:
        prefs = []
        if alpha:
            prefs += ["yuva420p10le", "yuva420p"] if high else ["yuva420p"]
            prefs += ["yuva444p10le", "yuva444p", "gbrap10le", "gbrap", "rgba"]
        if high:
            prefs += ["yuv420p10le", "yuv422p10le", "yuv444p10le"]
        prefs += ["yuv420p", "yuvj420p", "yuv444p", "gbrp", "rgb24", "bgr0"]
    for name in prefs:
        if name in available:
            return name
    if available:
        return available[0]
    raise InputError(f"codec '{codec}' has no usable pixel format")


def _has_alpha(pix_fmt: str) -> bool:
    return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)


def _bits(pix_fmt: str) -> int:
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def _full_chroma_format(codec: str, alpha: bool, high: bool) -> str | None:
    """The encoder's pixel format without chroma subsampling for (alpha, high bit depth)."""
    if alpha:
        prefs = ["yuva444p10le", "yuva444p"] if high else ["yuva444p", "yuva444p10le"]
    else:
        prefs = ["yuv444p10le", "yuv444p12le", "yuv444p"] if high else ["yuv444p"]
    available = _formats(codec)
    return next((f for f in prefs if f in available), None)


def _needs_even(pix_fmt: str, codec: str) -> tuple[bool, bool]:
    if codec in _ODD_OK_CODECS or codec in ("png", "gif"):
        return False, False
    fmt = av.VideoFormat(pix_fmt, 4, 4)
    chroma = [c for c in fmt.components if c.is_chroma]
    if not chroma:
        return False, False
    return chroma[0].width < 4, chroma[0].height < 4


def _colour_tags(info: VideoInfo | None, width: int, height: int) -> tuple[int, int, int, int]:
    """(colorspace, range, primaries, trc) used to convert and tag the output."""
    cs_raw = info.colorspace if info is not None else None
    src_fmt = info.pix_fmt if info is not None else "rgb24"
    w, h = (info.width, info.height) if info is not None else (width, height)
    cs = effective_colorspace(cs_raw, w, h)
    rng = effective_range(info.color_range if info else None, src_fmt)
    if info is not None and info.is_image_sequence or src_fmt.startswith(("rgb", "bgr", "gbr",
                                                                           "pal", "gray")):
        rng = 1  # RGB sources: limited-range YUV is what every player expects
    prim_default, trc_default = _MATRIX_DEFAULT_TAGS.get(cs, (1, 1))
    prim = (info.color_primaries if info else None) or prim_default
    trc = (info.color_trc if info else None) or trc_default
    return cs, rng, prim, trc


def plan_encoding(
    dst: Path, width: int, height: int, info: VideoInfo | None, opts: EncodeOptions,
    alpha: bool = False, high_bit_depth: bool = False,
) -> EncodePlan:
    """Decide container, encoder, pixel format, size and options; raise InputError if invalid."""
    if width <= 0 or height <= 0:
        raise InputError(f"bad frame size {width}x{height}")
    kind = output_kind(dst, png=opts.png)
    notes: list[str] = []
    if alpha and kind == "mp4":
        notes.append("mp4 cannot hold an alpha channel; dropping alpha (use .mov, .webm or --png)")
        alpha = False
    codec = _resolve_codec(kind, opts, alpha)
    if opts.pix_fmt:
        if opts.pix_fmt not in _formats(codec):
            raise InputError(f"codec '{codec}' cannot encode pixel format '{opts.pix_fmt}'")
        pix_fmt = opts.pix_fmt
    else:
        pix_fmt = _pick_pix_fmt(codec, alpha, high_bit_depth)
    if alpha and codec != "gif" and not _has_alpha(pix_fmt):
        notes.append(f"codec {codec}/{pix_fmt} has no alpha; dropping alpha")
        alpha = False
    if high_bit_depth and codec != "gif" and _bits(pix_fmt) <= 8:
        notes.append(f"codec {codec} has no pixel format above 8 bit here; writing 8 bit")
        high_bit_depth = False
    even_w, even_h = _needs_even(pix_fmt, codec)
    enc_w = width + (width % 2 if even_w else 0)
    enc_h = height + (height % 2 if even_h else 0)
    full = _full_chroma_format(codec, alpha, high_bit_depth) if not opts.pix_fmt else None
    if (enc_w, enc_h) != (width, height) and full is not None:
        notes.append(
            f"odd frame size {width}x{height} kept by encoding {codec} as {full} (4:4:4; "
            f"{pix_fmt} would make it {enc_w}x{enc_h}): fewer hardware players take it, "
            "--pix-fmt yuv420p pads instead")
        pix_fmt, (enc_w, enc_h) = full, (width, height)
    elif (enc_w, enc_h) != (width, height):
        notes.append(
            f"{codec} {pix_fmt} needs even dimensions: {width}x{height} is written as "
            f"{enc_w}x{enc_h}, the extra column/row repeating the edge (.webm or a 4:4:4 "
            f"--pix-fmt keeps {width}x{height})")
    fmt = av.VideoFormat(pix_fmt)
    is_yuv = not fmt.is_rgb and not pix_fmt.startswith(("pal", "gray", "gbr"))
    cs, rng, prim, trc = _colour_tags(info, width, height)
    if pix_fmt.startswith("yuvj"):
        rng = 2
    return EncodePlan(
        kind=kind, muxer=_MUXER.get(kind), codec=codec, pix_fmt=pix_fmt, width=enc_w,
        height=enc_h, options=_codec_options(codec, opts, notes), alpha=alpha,
        high_bit_depth=high_bit_depth, colorspace=cs, color_range=rng, color_primaries=prim,
        color_trc=trc, is_yuv=is_yuv, notes=notes,
    )


#: The presets each encoder takes (checked before anything is written: an encoder told an
#: unknown preset fails only when it opens, after printing its own message).
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")
_NUMERIC_PRESETS = {"libvpx-vp9": (-8, 8), "libvpx": (-16, 16), "libsvtav1": (-1, 13)}


def _check_preset(codec: str, preset: str | None) -> None:
    if preset is None:
        return
    if codec in ("libx264", "libx265"):
        if preset not in _X26X_PRESETS:
            raise InputError(f"preset for {codec} must be one of {', '.join(_X26X_PRESETS)}, "
                             f"got {preset[:40]}")
    elif codec in _NUMERIC_PRESETS:
        lo, hi = _NUMERIC_PRESETS[codec]
        if not (preset.lstrip("-").isdigit() and preset.isascii() and lo <= int(preset) <= hi):
            raise InputError(f"preset for {codec} must be a whole number from {lo} to {hi}, "
                             f"got {preset[:40]}")


def _codec_options(codec: str, opts: EncodeOptions, notes: list[str]) -> dict[str, str]:
    _check_preset(codec, opts.preset)
    crf = opts.crf if opts.crf is not None else _DEFAULT_CRF.get(codec)
    out: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        out = {"crf": str(crf), "preset": opts.preset or "medium"}
        if codec == "libx265":
            out["x265-params"] = "log-level=error"
    elif codec in ("libvpx-vp9", "libvpx"):
        out = {"crf": str(crf), "b": "0", "row-mt": "1", "deadline": "good",
               "cpu-used": opts.preset or "2"}
    elif codec == "libsvtav1":
        out = {"crf": str(crf), "preset": opts.preset or "8"}
    elif codec == "prores_ks":
        out = {"profile": "4" if opts.pix_fmt is None else "3"}
    elif opts.crf is not None:
        notes.append(f"codec {codec} ignores crf")
    return out


def _temp_sibling(dst: Path, tag: str, suffix: str) -> Path:
    return dst.parent / f".{dst.name}.{tag}-{secrets.token_hex(4)}{suffix}"


def per_frame_palette_graph(width: int, height: int, fmt: str, time_base: Fraction,
                            paletteuse: str) -> av.filter.Graph:
    """A filter graph that gives every frame its own palette: buffer -> split -> palettegen
    (stats_mode=single) and paletteuse (``paletteuse``: its options) -> buffersink."""
    graph = av.filter.Graph()
    src = graph.add_buffer(width=width, height=height, format=fmt, time_base=time_base)
    split = graph.add("split", "2")
    gen = graph.add("palettegen", "stats_mode=single:reserve_transparent=1")
    use = graph.add("paletteuse", paletteuse)
    sink = graph.add("buffersink")
    src.link_to(split)
    split.link_to(use, 0, 0)
    split.link_to(gen, 1, 0)
    gen.link_to(use, 0, 1)
    use.link_to(sink)
    graph.configure()
    return graph


class VideoWriter:
    """Write frames at constant ``rate``; :meth:`close` returns the video-only intermediate."""

    def __init__(
        self, dst: Path, width: int, height: int, rate: Fraction, info: VideoInfo | None,
        opts: EncodeOptions | None = None, alpha: bool = False, high_bit_depth: bool = False,
    ) -> None:
        self.dst = Path(dst)
        self.width, self.height = int(width), int(height)
        self.rate = Fraction(rate)
        if self.rate <= 0:
            raise InputError(f"bad output frame rate {rate}")
        if info is not None and _same_file(self.dst, info.path):
            raise InputError(f"output {self.dst} would overwrite the input")
        self.plan = plan_encoding(self.dst, self.width, self.height, info, opts or EncodeOptions(),
                                  alpha, high_bit_depth)
        for note in self.plan.notes:
            log.info(note)  # the caller shows them (VideoWriter.plan.notes; see EncodePlan)
        self.info = info
        self.frames_written = 0
        self._created_dirs: list[Path] = []
        self._closed = False
        self._in_fmt = rgb_format(16 if self.plan.high_bit_depth else 8, self.plan.alpha)
        self._make_parent()
        if self.plan.kind == "png-folder":
            self.tmp = _temp_sibling(self.dst, "part", "")
            self.tmp.mkdir()
            self._png = av.CodecContext.create("png", "w")
            self._png.width, self._png.height = self.plan.width, self.plan.height
            self._png.pix_fmt = self.plan.pix_fmt
            self._png.time_base = 1 / self.rate
            self._container = None
        else:
            self.tmp = _temp_sibling(self.dst, "video", self.dst.suffix.lower())
            try:
                self._open_container()
            except Exception:
                self.abort()
                raise

    # -- setup ---------------------------------------------------------------------------------
    def _make_parent(self) -> None:
        missing = []
        p = self.dst.parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self._created_dirs.append(d)

    def _open_container(self) -> None:
        plan = self.plan
        self._container = av.open(str(self.tmp), "w", format=plan.muxer)
        stream = self._container.add_stream(plan.codec, rate=self.rate)
        cc = stream.codec_context
        cc.width, cc.height = plan.width, plan.height
        cc.pix_fmt = plan.pix_fmt
        cc.time_base = 1 / self.rate
        stream.time_base = 1 / self.rate
        if plan.is_yuv:
            cc.colorspace = plan.colorspace
            cc.color_range = plan.color_range
            cc.color_primaries = plan.color_primaries
            cc.color_trc = plan.color_trc
        elif plan.codec not in ("gif",):
            cc.color_primaries = plan.color_primaries
            cc.color_trc = plan.color_trc
        sar = self.info.sample_aspect_ratio if self.info is not None else None
        if sar and sar != 1:
            cc.sample_aspect_ratio = sar
            stream.sample_aspect_ratio = sar
        if plan.codec in ("libvpx-vp9", "libvpx"):
            cc.bit_rate = 0
        cc.options = dict(plan.options)
        if self.info is not None and self.info.rotation % 360 and plan.kind != "gif":
            stream.set_display_rotation(self.info.rotation)
        if plan.alpha and plan.codec in ("libvpx-vp9", "libvpx"):
            stream.metadata["alpha_mode"] = "1"
        self._stream = stream
        self._graph = self._gif_graph() if plan.codec == "gif" else None

    def _gif_graph(self) -> av.filter.Graph:
        fmt = self._in_fmt if not self.plan.high_bit_depth else "rgb24"
        return per_frame_palette_graph(self.plan.width, self.plan.height, fmt, 1 / self.rate,
                                       "new=1:dither=sierra2_4a:alpha_threshold=128")

    # -- writing -------------------------------------------------------------------------------
    def _prepare(self, image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[:2] != (self.height, self.width) or img.shape[2] not in (3, 4):
            raise MediaError(
                f"frame shape {img.shape} does not match the writer's "
                f"{self.height}x{self.width}x3/4"
            )
        want_c = 4 if self.plan.alpha else 3
        if img.shape[2] == 4 and want_c == 3:
            img = img[..., :3]
        elif img.shape[2] == 3 and want_c == 4:
            full = np.iinfo(img.dtype).max if img.dtype.kind == "u" else 255
            img = np.concatenate([img, np.full(img.shape[:2] + (1,), full, img.dtype)], axis=2)
        high = self.plan.high_bit_depth and self.plan.codec != "gif"
        if high and img.dtype == np.uint8:
            img = img.astype(np.uint16) * 257
        elif not high and img.dtype == np.uint16:
            img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
        elif img.dtype not in (np.uint8, np.uint16):
            raise MediaError(f"frames must be uint8 or uint16, got {img.dtype}")
        pad_w, pad_h = self.plan.width - self.width, self.plan.height - self.height
        if pad_w or pad_h:
            img = np.pad(img, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        return np.ascontiguousarray(img)

    def _to_frame(self, img: np.ndarray) -> av.VideoFrame:
        high = self.plan.high_bit_depth and self.plan.codec != "gif"
        fmt = rgb_format(16 if high else 8, img.shape[2] == 4)
        frame = av.VideoFrame.from_ndarray(img, format=fmt)
        plan = self.plan
        if plan.codec == "gif":
            return frame
        if plan.is_yuv:
            frame = frame.reformat(
                format=plan.pix_fmt, dst_colorspace=sws_matrix(plan.colorspace or 1),
                src_color_range="JPEG", dst_color_range=sws_range(plan.color_range or 1),
            )
            frame.colorspace = plan.colorspace
            frame.color_range = plan.color_range
            _zero_row_padding(frame)
        elif frame.format.name != plan.pix_fmt:
            frame = frame.reformat(format=plan.pix_fmt)
        frame.color_primaries = plan.color_primaries
        frame.color_trc = plan.color_trc
        return frame

    def write(self, image: np.ndarray) -> None:
        """Append one frame (HxWx3/4, uint8 or uint16); its pts is ``n / rate`` exactly."""
        if self._closed:
            raise MediaError("write() after close()")
        frame = self._to_frame(self._prepare(image))
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        try:
            if self.plan.kind == "png-folder":
                self._write_png(frame)
            elif self._graph is not None:
                self._graph.push(frame)
                self._drain_graph()
            else:
                self._container.mux(self._stream.encode(frame))
        except av.FFmpegError as exc:
            raise MediaError(f"encoding with {self.plan.codec} failed: {exc}") from exc
        self.frames_written += 1

    def _write_png(self, frame: av.VideoFrame) -> None:
        data = b"".join(bytes(p) for p in self._png.encode(frame))
        (self.tmp / f"frame_{self.frames_written + 1:06d}.png").write_bytes(data)

    def _drain_graph(self) -> None:
        while True:
            try:
                out = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            out.pts = self._gif_pts
            out.time_base = 1 / self.rate
            self._gif_pts += 1
            self._container.mux(self._stream.encode(out))

    _gif_pts = 0

    def close(self) -> Path:
        """Flush the encoder and finish the intermediate; return its (temporary) path."""
        if self._closed:
            return self.tmp
        try:
            if self.frames_written == 0:
                raise MediaError("no frames were written")
            if self.plan.kind != "png-folder":
                if self._graph is not None:
                    self._graph.push(None)
                    self._drain_graph()
                self._container.mux(self._stream.encode(None))
                self._container.close()
        except av.FFmpegError as exc:
            self.abort()
            raise MediaError(f"finishing the video failed: {exc}") from exc
        except Exception:
            self.abort()
            raise
        self._closed = True
        log.info("wrote %d frames to %s", self.frames_written, self.tmp)
        return self.tmp

    def abort(self) -> None:
        """Remove every file and folder this writer created."""
        self._closed = True
        container = getattr(self, "_container", None)
        if container is not None:
            try:
                container.close()
            except Exception as exc:  # noqa: BLE001 - best effort while aborting
                log.debug("closing %s while aborting: %s", self.tmp, exc)
            self._container = None
        tmp = getattr(self, "tmp", None)
        if tmp is not None:
            try:
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink(missing_ok=True)
            except OSError:  # e.g. the parent is not a folder: nothing was created
                pass
        for d in reversed(self._created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        self._created_dirs.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:
            self.abort()


def _zero_row_padding(frame: av.VideoFrame) -> None:
    """Clear the bytes between each row's end and the next row (the plane's alignment padding).

    FFmpeg leaves them uninitialised, and x264's SIMD code reads past the row end: measured
    here, the same frames gave different bitstreams from run to run until the padding was
    cleared. (x264 still over-reads its own buffers, so byte-identical re-encodes across
    processes are not guaranteed; the frames we hand it are.)
    """
    deep = any(c.bits > 8 for c in frame.format.components)
    for plane in frame.planes:
        row = plane.width * (2 if deep else 1)
        if plane.line_size > row:
            view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
            view[:, row:] = 0


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False
