"""GIF output a user would post: a palette per scene (or clip), chosen dithering, small files.

Decisions
---------
* **Two passes over a lossless intermediate.** The segments of a GIF run are written as FFV1
  (lossless RGB, every frame a keyframe) in the run's work folder. Pass 1 reads them and
  builds the palettes with ``palettegen`` (``stats_mode=full``: one colour histogram for all
  the frames it is given, a bounded 32k-entry table however long the clip); pass 2 reads them
  again and maps each frame onto its palette with ``paletteuse``. Memory stays bounded (a few
  frames in flight), and the frames are never re-interpolated.
* **Palette per scene** (default): pass 1 finds the scene cuts on the frames' thumbnails
  (:class:`fluidframes.scenes.SceneDetector`, the run's ``scene_threshold``) and starts a new
  histogram at each; the GIF encoder writes the first palette as the global colour table and
  the others as local tables on the first frame of their scene. ``clip``: one palette for
  everything. ``frame``: a new palette every frame (``stats_mode=single``, ``new=1``; what the
  pipeline did before: best colour per frame, largest files, unchanged areas flicker).
* **Unchanged areas cost nothing.** A pixel whose colour moved by at most
  :data:`HOLD_LEVELS` (of 255, in every channel) since the frame before keeps that frame's colour
  (decoded video never repeats a pixel exactly, an interpolated frame even less; a palette's
  own steps are ~10 levels). ``paletteuse`` runs with ``diff_mode=rectangle``, so only the
  rectangle that changed is re-dithered, and the encoder (``gifflags`` offsetting + transdiff,
  its defaults) codes only that rectangle and marks repeated pixels transparent
  (``palettegen`` reserves a transparent entry), which LZW packs to almost nothing.
* **Dithering** is the user's (``--gif-dither``). The default is ordered ``bayer`` (at
  ``bayer_scale=3``): a pixel of the same colour always gets the same index, so still areas
  stay still (error diffusion - sierra2_4a, sierra2, floyd_steinberg - spreads every change
  over its neighbours: the "fizzing" of animated GIFs, and 30-50 % larger files); ``none``
  bands. Measured in benchmarks/README.md ("GIF output").
* **Size**: ``--gif-width`` scales down (Lanczos, height kept in proportion) as the frames
  are read, in both passes; the frame rate cap (``--gif-fps-max``) is applied when the run is
  planned (GIF delays are whole centiseconds and browsers slow down anything faster than 2 cs
  a frame). Rates that are not 100/k are written with delays alternating so the total time
  is exact (the muxer rounds each frame's time, not each delay).
* **Loops forever** (the NETSCAPE2.0 loop count 0), like every GIF users post.
* **Alpha** (sources with transparency): 1-bit, pixels under half opacity are transparent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import CancelledError, MediaError
from ..options import GIF_DITHERS, GIF_PALETTES
from ..scenes import SceneDetector, thumbnail
from .writer import _temp_sibling, per_frame_palette_graph

log = logging.getLogger(__name__)

PALETTES, DITHERS = GIF_PALETTES, GIF_DITHERS
_AGAIN = (av.BlockingIOError, av.EOFError)
#: Colour changes up to this (8-bit levels, in every channel) count as "unchanged": decoding
#: noise of +-2 levels differs by up to 4 between two frames.
HOLD_LEVELS = 4


@dataclass(frozen=True)
class GifSettings:
    palette: str = "scene"
    dither: str = "bayer"
    width: int | None = None  # scale down to this width (None: keep)
    scene_threshold: float = SceneDetector.DEFAULT_THRESHOLD
    alpha: bool = False


@dataclass
class GifReport:
    """What was made (the run summary's ``gif``)."""

    palette: str  # scene | clip | frame
    palettes: int  # palettes written (the frame count for 'frame')
    dither: str
    width: int
    height: int
    fps: str
    frames: int
    bytes: int = 0


def gif_size(width: int, height: int, want: int | None) -> tuple[int, int]:
    """The GIF's size: ``want`` wide (never wider than the frames), height in proportion."""
    if not want or want >= width:
        return width, height
    return want, max(1, round(height * want / width))


def _frames(parts: list[Path], fmt: str, size: tuple[int, int],
            cancel) -> Iterator[av.VideoFrame]:
    """The frames of the segment files, in order, as ``fmt`` (rgb24/rgba) at ``size``."""
    for part in parts:
        with av.open(str(part)) as c:
            for frame in c.decode(video=0):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("cancelled")
                if (frame.width, frame.height) != size:
                    yield frame.reformat(width=size[0], height=size[1], format=fmt,
                                         interpolation="LANCZOS")
                else:
                    yield frame.reformat(format=fmt)


class _Hold:
    """Pixels that changed by at most HOLD_LEVELS keep the previous frame's colour."""

    def __init__(self) -> None:
        self.prev: np.ndarray | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        cur = frame.to_ndarray()
        if self.prev is not None:
            moved = np.abs(cur.astype(np.int16) - self.prev).max(axis=2, keepdims=True)
            cur = np.where(moved <= HOLD_LEVELS, self.prev, cur)
        self.prev = cur
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(cur), format=frame.format.name)


class _Graph:
    """A filter graph: source buffer(s) -> filters -> one sink, pulled as it is pushed."""

    def __init__(self, size: tuple[int, int], fmt: str, rate: Fraction, chain: list[tuple],
                 palette_in: str | None = None) -> None:
        g = self.graph = av.filter.Graph()
        tb = 1 / rate
        self.tb = tb
        self.src = g.add_buffer(width=size[0], height=size[1], format=fmt, time_base=tb)
        node: Any = self.src
        self.pal = None
        for name, args in chain:
            f = g.add(name, args)
            node.link_to(f)
            node = f
            if name == "paletteuse" and palette_in is not None:
                self.pal = g.add_buffer(width=16, height=16, format=palette_in, time_base=tb)
                self.pal.link_to(f, 0, 1)
        sink = g.add("buffersink")
        node.link_to(sink)
        g.configure()
        self.n = 0

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        if frame is not None:
            frame.pts, frame.time_base = self.n, self.tb
            self.n += 1
        self.src.push(frame)
        return self.pull()

    def pull(self) -> list[av.VideoFrame]:
        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except _AGAIN:
                return out


def _palettegen(stats: str) -> tuple[str, str]:
    return "palettegen", f"stats_mode={stats}:reserve_transparent=1"


def _paletteuse(dither: str, new: bool) -> tuple[str, str]:
    args = f"dither={dither}:alpha_threshold=128"
    args += ":new=1" if new else ":diff_mode=rectangle"
    if dither == "bayer":
        args += ":bayer_scale=3"  # 2 (FFmpeg's default) costs ~1.5 dB, saves ~1 %
    return "paletteuse", args


def write_gif(parts: list[Path], rate: Fraction, dst: Path, settings: GifSettings,
              cancel=None) -> tuple[Path, GifReport]:
    """Make the GIF from the lossless segment files ``parts`` (in order) at ``rate``.

    Returns a temporary path next to ``dst`` (for :func:`fluidframes.video.mux.finalize` to
    publish) and what was made. Nothing is left behind on failure.
    """
    if settings.palette not in PALETTES or settings.dither not in DITHERS:
        raise MediaError(f"bad GIF settings {settings}")
    with av.open(str(parts[0])) as c:
        st = c.streams.video[0]
        width, height = st.codec_context.width, st.codec_context.height
    fmt = "rgba" if settings.alpha else "rgb24"
    size = gif_size(width, height, settings.width)
    rate = Fraction(rate)
    tmp = _temp_sibling(dst, "video", ".gif")
    try:
        made, frames = _write(parts, rate, tmp, settings, fmt, size, cancel)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, GifReport(settings.palette, made, settings.dither, size[0], size[1],
                          str(rate), frames)


def _scene_palettes(parts, rate, settings, fmt, size, cancel
                    ) -> tuple[list[av.VideoFrame], list[int]]:
    """Pass 1: a palette per scene (one for the clip) and the first frame of each scene."""
    detect = SceneDetector(settings.scene_threshold) if settings.palette == "scene" else None
    palettes: list[av.VideoFrame] = []
    starts: list[int] = []
    graph = None
    prev = None
    for n, frame in enumerate(_frames(parts, fmt, size, cancel)):
        if detect is not None:
            thumb = thumbnail(frame.to_ndarray())
            if prev is not None and detect.is_cut(prev, thumb):
                palettes += graph.push(None)
                graph = None
            prev = thumb
        if graph is None:
            graph = _Graph(size, fmt, rate, [_palettegen("full")])
            starts.append(n)
        graph.push(frame)  # pulling as we go: nothing queues up in the graph
    if graph is None:
        raise MediaError("no frames to make a GIF from")
    palettes += graph.push(None)
    if len(palettes) != len(starts):
        raise MediaError(f"palettegen made {len(palettes)} palettes for {len(starts)} scenes")
    return palettes, starts


def _write(parts, rate, tmp, settings, fmt, size, cancel) -> tuple[int, int]:
    """Pass 2 (and pass 1 for scene/clip palettes): encode ``tmp``; (palettes, frames)."""
    per_frame = settings.palette == "frame"
    if not per_frame:
        palettes, starts = _scene_palettes(parts, rate, settings, fmt, size, cancel)
    out = av.open(str(tmp), "w", format="gif", options={"loop": "0"})
    try:
        stream = out.add_stream("gif", rate=rate)
        cc = stream.codec_context
        cc.width, cc.height = size
        cc.pix_fmt = "pal8"
        cc.time_base = 1 / rate
        stream.time_base = 1 / rate
        written = 0

        def encode(frames: list[av.VideoFrame]) -> None:
            nonlocal written
            for f in frames:
                f.pts, f.time_base = written, 1 / rate
                written += 1
                out.mux(stream.encode(f))

        graph = None
        scene = -1
        hold = _Hold()
        for n, frame in enumerate(_frames(parts, fmt, size, cancel)):
            if per_frame:
                if graph is None:
                    graph = _PerFrame(size, fmt, rate, settings.dither)
            elif scene + 1 < len(starts) and n == starts[scene + 1]:
                if graph is not None:
                    encode(graph.push(None))
                scene += 1
                hold = _Hold()  # a new palette: every pixel is coded again anyway
                graph = _Graph(size, fmt, rate, [_paletteuse(settings.dither, False)],
                               palette_in=palettes[scene].format.name)
                pal = palettes[scene]
                pal.pts, pal.time_base = 0, 1 / rate
                graph.pal.push(pal)
                graph.pal.push(None)  # the palette holds for the whole scene
            encode(graph.push(frame if per_frame else hold(frame)))
        if graph is not None:
            encode(graph.push(None))
        out.mux(stream.encode(None))
        out.close()
    except av.FFmpegError as exc:
        out.close()
        raise MediaError(f"writing the GIF failed: {exc}") from exc
    except BaseException:
        out.close()
        raise
    made = written if per_frame else len(palettes)
    log.info("GIF: %d frames, %d palette(s), %s", written, made, settings)
    return made, written


class _PerFrame(_Graph):
    """The 'frame' palette mode: split -> palettegen (per frame) -> paletteuse (new=1)."""

    def __init__(self, size, fmt, rate, dither) -> None:
        self.tb = 1 / rate
        self.n = 0
        self.graph = per_frame_palette_graph(size[0], size[1], fmt, self.tb,
                                             _paletteuse(dither, True)[1])
        self.src = self.graph  # one buffer source: the graph's push feeds it


__all__ = ["DITHERS", "PALETTES", "GifReport", "GifSettings", "gif_size", "write_gif"]
