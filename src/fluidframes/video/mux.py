"""Put the encoded video together with the source's audio, subtitles and chapters (PyAV).

Decisions
---------
* **Audio is a packet copy** (no decode, no re-encode) whenever ``tempo == 1`` and the output
  container can hold the codec; otherwise it is re-encoded (AAC for mp4/mov/mkv, Opus for webm).
  Every audio track is carried, stream for stream, with its language and title.
* **Slow motion** (``tempo != 1``, e.g. ``1/4`` = output lasts 4x longer): ``audio='stretch'``
  runs FFmpeg's pitch-preserving ``atempo`` (chained, each stage within 0.5..100) in a PyAV filter
  graph and re-encodes; ``audio='copy'`` cannot keep sync when the duration changes, so it drops
  the audio with a warning; ``'drop'`` drops it. Chapters are re-timed by ``1/tempo``;
  subtitles are only carried at ``tempo == 1`` (others reported in ``subtitles_dropped``).
* **Sync: one start-time rule for every container.** The source video's first frame is output
  t=0 and the video starts there in mp4, mov, mkv and webm alike. Audio/subtitle timestamps
  shift by ``-(source.start + time_offset)``, so the source's A/V offset is kept exactly; audio
  before t=0 is trimmed. mp4/mov keep the packet that straddles t=0 (and AAC priming) and hide
  its head with an edit list; Matroska/WebM cannot hold times before 0 (beyond a declared codec
  delay) - its muxer would shift every stream - so there that packet is dropped (copy) or its
  leading samples are cut (re-encode). See :func:`_place_copy`.
* **A part of the source** (``time_offset``/``duration``: a run with --start/--duration): audio,
  subtitles and chapters are cut to the same window. A packet copy can only cut at packet edges
  (an AAC frame is ~21 ms), so an audio track that the window cuts is decoded, cut to the
  exact sample and re-encoded (the decoder drops the source's AAC priming; the encoder's own
  priming is hidden by the container's edit list / codec delay, as for any re-encode); a track
  wholly inside the window is still copied. Subtitle events are shifted, cut at both ends and
  dropped outside; chapters are shifted, clipped, dropped outside.
* **Subtitles never cost the video.** Text tracks are copied where the container takes the codec,
  else converted (mov_text for mp4/mov, webvtt for webm, subrip/ass for mkv); bitmap tracks that
  cannot go in are reported. If muxing fails with subtitles, the mux is redone without them.
* **Files.** Output is written to ``.{name}.part-XXXXXXXX{ext}`` next to ``dst`` and renamed over
  it with ``os.replace`` only when complete; on failure the part file is removed and ``dst`` is
  untouched. The video intermediate is removed after success (kept on failure, so the caller
  can retry or call ``VideoWriter.abort``). ``dst`` may never be the source.
* **Verification.** After writing, the output is re-opened and every stream's packets are read
  back to measure starts and durations into :class:`MuxReport`.
"""

from __future__ import annotations

import heapq
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from fluidframes.errors import CancelledError, InputError, MediaError
from fluidframes.video.reader import StreamInfo, VideoInfo
from fluidframes.video.writer import _MUXER, _same_file, _supported, _temp_sibling, output_kind

log = logging.getLogger(__name__)

_AUDIO_ENCODER = {"mp4": "aac", "mov": "aac", "mkv": "aac", "webm": "libopus"}
_EDIT_LIST_KINDS = frozenset({"mp4", "mov"})  # containers that can start a track before t=0
_ENCODER_FRAME = {"aac": 1024, "libopus": 960}
_TEXT_SUBS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
_SUB_TARGET = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "mkv": "subrip"}
_DEFAULT_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n"
    "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    "OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, "
    "Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    "\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, "
    "Text\n"
)


@dataclass
class MuxReport:
    """What ended up in the output, measured by reading the written file back."""

    audio_streams: int
    audio_mode: str  # 'copy' | 'reencode' | 'stretch' | 'drop' | 'none'
    subtitle_streams: int
    subtitles_dropped: list[str]
    chapters: int
    video_duration: float | None  # None: a PNG folder (no timing of its own)
    audio_duration: float | None
    video_start: float
    audio_start: float | None
    # audio_start - video_start in the output. Audio before the source's first video frame is
    # trimmed, so a source whose audio starts *earlier* than its video gives ~0 here (mp4/mov
    # edit lists, re-encodes) or up to one audio frame (copy into mkv/webm: whole packets).
    av_offset: float | None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Track:
    """One source audio/subtitle stream and how it goes into the output."""

    info: StreamInfo
    mode: str  # 'copy' | 'reencode' | 'stretch' | 'convert'
    target: str | None = None  # encoder for reencode/stretch/convert


def atempo_chain(tempo: Fraction | float) -> list[float]:
    """Split a tempo factor into atempo stages that each lie within [0.5, 100]."""
    t = float(tempo)
    if t <= 0:
        raise InputError(f"bad tempo {tempo}")
    stages: list[float] = []
    while t < 0.5:
        stages.append(0.5)
        t /= 0.5
    while t > 100.0:
        stages.append(100.0)
        t /= 100.0
    if abs(t - 1.0) > 1e-9 or not stages:
        stages.append(t)
    return stages


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------


def _inside(s: StreamInfo, window: tuple[Fraction, Fraction | None] | None) -> bool:
    """Whether the whole track lies inside ``window`` (absolute start, end): nothing to cut."""
    if window is None:
        return True
    t0 = s.start if s.start is not None else window[0]
    if t0 < window[0]:
        return False
    return window[1] is None or (s.duration is not None and t0 + s.duration <= window[1])


def _plan_audio(source: VideoInfo | None, kind: str, tempo: Fraction, audio: str,
                window: tuple[Fraction, Fraction | None] | None = None,
                ) -> tuple[list[_Track], str, list[str]]:
    notes: list[str] = []
    if source is None or source.is_image_sequence or not source.audio:
        return [], "none", notes
    if audio == "drop":
        return [], "drop", notes
    if tempo != 1 and audio == "copy":
        msg = "audio dropped: it cannot be copied when the duration changes (use stretch)"
        log.warning(msg)
        notes.append(msg)
        return [], "drop", notes
    tracks: list[_Track] = []
    for s in source.audio:
        if tempo != 1:
            tracks.append(_Track(s, "stretch", _AUDIO_ENCODER[kind]))
        elif _supported(kind, s.codec) and _inside(s, window):
            tracks.append(_Track(s, "copy"))
        elif _supported(kind, s.codec):
            notes.append(f"audio track {s.index} ({s.codec}) re-encoded: cut exactly to the part")
            tracks.append(_Track(s, "reencode", _AUDIO_ENCODER[kind]))
        else:
            notes.append(f"audio track {s.index} ({s.codec}) re-encoded: {kind} cannot hold it")
            tracks.append(_Track(s, "reencode", _AUDIO_ENCODER[kind]))
    modes = {t.mode for t in tracks}
    mode = "stretch" if "stretch" in modes else "reencode" if "reencode" in modes else "copy"
    return tracks, mode, notes


def _plan_subs(source: VideoInfo | None, kind: str, tempo: Fraction, keep: bool
               ) -> tuple[list[_Track], list[str]]:
    if source is None or source.is_image_sequence or not source.subtitles:
        return [], []
    dropped: list[str] = []
    tracks: list[_Track] = []
    for s in source.subtitles:
        label = f"#{s.index} {s.codec}" + (f" ({s.language})" if s.language else "")
        if not keep:
            dropped.append(f"{label}: not requested")
        elif tempo != 1:
            dropped.append(f"{label}: not re-timed for tempo {tempo}")
        elif _supported(kind, s.codec) and not (kind == "webm" and s.codec != "webvtt"):
            tracks.append(_Track(s, "copy"))
        elif s.codec in _TEXT_SUBS and kind in _SUB_TARGET:
            tracks.append(_Track(s, "convert", _SUB_TARGET[kind]))
        else:
            dropped.append(f"{label}: {kind} cannot hold this subtitle codec")
    return tracks, dropped


# --------------------------------------------------------------------------------------------
# muxing
# --------------------------------------------------------------------------------------------


def _ts(packet: Any) -> Fraction:
    t = packet.dts if packet.dts is not None else packet.pts
    return Fraction(t or 0) * packet.time_base


class _AudioEncoder:
    """Decode -> (atempo) -> resample -> encode for one track, with exact sample-count pts."""

    def __init__(self, out: Any, in_stream: Any, target: str, tempo: Fraction, shift: Fraction,
                 declared: Fraction | None = None, end: Fraction | None = None) -> None:
        self.in_stream = in_stream
        # A part of the source (--start/--duration): audio from ``shift`` to ``end`` (absolute
        # source times), cut to the sample; ``declared`` is then the length kept.
        self.end = end
        self.cut = end is not None or shift != 0
        # The track's stated duration: decoders hand out the codec's padding too (AAC rounds
        # up to 1024-sample frames), which would make a stretched track end late.
        self.declared = declared
        self.tempo = tempo
        self.shift = shift
        icc = in_stream.codec_context
        rate = 48000 if target == "libopus" else (icc.sample_rate or 48000)
        if target == "aac" and rate > 96000:
            rate = 48000
        self.stream = out.add_stream(target, rate=rate)
        cc = self.stream.codec_context
        layout = icc.layout.name if icc.layout and icc.layout.name else "stereo"
        cc.layout = layout
        formats = [f.name for f in (av.Codec(target, "w").audio_formats or [])]
        cc.format = formats[0] if formats else "fltp"
        channels = max(1, icc.channels or 2)
        cc.bit_rate = min(64000 * channels, 512000)
        cc.time_base = Fraction(1, rate)
        self.rate = rate
        self.resampler = av.AudioResampler(format=cc.format, layout=layout, rate=rate,
                                           frame_size=_ENCODER_FRAME.get(target))
        self.graph = self._graph() if tempo != 1 else None
        self.next_pts: int | None = None
        self.start_pts = 0
        self.in_seconds = Fraction(0)  # decoded source audio fed to the encoder

    def _graph(self) -> av.filter.Graph:
        graph = av.filter.Graph()
        node = graph.add_abuffer(template=self.in_stream)
        for factor in atempo_chain(self.tempo):
            stage = graph.add("atempo", f"{factor:.10g}")
            node.link_to(stage)
            node = stage
        sink = graph.add("abuffersink")
        node.link_to(sink)
        graph.configure()
        return graph

    def _encode(self, frames: list) -> Iterator[Any]:
        for frame in frames:
            self._last = (frame.format.name, frame.layout.name, frame.sample_rate)
            for rs in self.resampler.resample(frame):
                yield from self._emit(rs)

    def _emit(self, frame: Any) -> Iterator[Any]:
        limit = self._limit()
        if limit is not None and self.next_pts + frame.samples > limit:
            keep = limit - self.next_pts
            if keep <= 0:
                return
            arr = frame.to_ndarray()
            cut = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(arr[:, :keep] if frame.format.is_planar else arr[:, : keep * len(frame.layout.channels)]),
                format=frame.format.name, layout=frame.layout.name)
            cut.sample_rate = frame.sample_rate
            frame = cut
        frame.pts = self.next_pts
        frame.time_base = Fraction(1, self.rate)
        self.next_pts += frame.samples
        yield from self.stream.encode(frame)

    def _filtered(self, frame: Any | None) -> list:
        if self.graph is None:
            return [frame] if frame is not None else []
        self.graph.push(frame)
        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.BlockingIOError, av.EOFError):
                return out

    def feed(self, packet: Any) -> Iterator[Any]:
        for frame in self.in_stream.codec_context.decode(packet if packet.size else None):
            if frame.pts is not None:
                t = Fraction(frame.pts) * frame.time_base
                if t + Fraction(frame.samples, frame.sample_rate) <= self.shift:
                    continue  # ends before output t=0
                if self.end is not None and t >= self.end:
                    continue  # after the part (the limit cuts the frame across its end)
                if t < self.shift:  # straddles t=0 (the part's start): keep from it on
                    frame = _drop_head(frame, round((self.shift - t) * frame.sample_rate))
                    t = self.shift
                if self.next_pts is None:
                    self.next_pts = round((t - self.shift) / self.tempo * self.rate)
                    self.start_pts = self.next_pts
            if self.next_pts is None:
                self.next_pts = 0
            self.in_seconds += Fraction(frame.samples, frame.sample_rate)
            frame.pts = None  # the filters and resampler re-time; we count samples ourselves
            yield from self._encode(self._filtered(frame))

    def flush(self) -> Iterator[Any]:
        if self.next_pts is None:
            return
        if self.graph is not None:
            yield from self._encode(self._filtered(None))
            # atempo keeps back up to one analysis window at the end of the stream; pad the
            # stretched track with silence to its exact length so it ends with the video.
            want = self._limit() or self.start_pts + round(self.in_seconds / self.tempo * self.rate)
            missing = want - self.next_pts
            if missing > 0 and getattr(self, "_last", None):
                yield from self._encode([self._silence(missing)])
        for rs in self.resampler.resample(None):
            yield from self._emit(rs)
        yield from self.stream.encode(None)

    def _limit(self) -> int | None:
        """Last output sample (exclusive) of a stretched track, from the stated duration."""
        if (self.tempo == 1 and not self.cut) or self.declared is None or self.next_pts is None:
            return None
        return self.start_pts + round(Fraction(self.declared) / self.tempo * self.rate)

    def _silence(self, samples: int) -> Any:
        """Silent frame in the format the resampler was set up with (the filter output's)."""
        fmt, layout, rate = self._last
        samples = round(Fraction(samples) * rate / self.rate)
        frame = av.AudioFrame(format=fmt, layout=layout, samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = rate
        return frame


def _drop_head(frame: Any, samples: int) -> Any:
    """``frame`` without its first ``samples`` samples (same format, layout and rate)."""
    arr = frame.to_ndarray()
    width = 1 if frame.format.is_planar else len(frame.layout.channels)
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr[:, samples * width:]),
                                     format=frame.format.name, layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    out.time_base = frame.time_base
    return out


def _sub_window(start: Fraction, dur: Fraction, end: Fraction | None
                ) -> tuple[Fraction, Fraction] | None:
    """A subtitle event (start, duration on the output timeline) cut to [0, end); None: out."""
    if start < 0:
        if start + dur <= 0:
            return None
        start, dur = Fraction(0), dur + start
    if end is not None:
        if start >= end:
            return None
        dur = min(dur, end - start)
    return start, dur


class _SubConverter:
    """Text subtitle re-encoding (e.g. subrip -> mov_text) through the ASS form FFmpeg uses."""

    def __init__(self, out: Any, in_stream: Any, target: str) -> None:
        self.in_stream = in_stream
        icc = in_stream.codec_context
        if not icc.is_open:
            icc.open()
        header = icc.subtitle_header or _DEFAULT_ASS_HEADER.encode()
        self.stream = out.add_stream(target)
        self.stream.codec_context.subtitle_header = header
        self.stream.codec_context.time_base = Fraction(1, 1000)

    #: a part of the source (--start/--duration): events are cut to [0, end) of the output
    cut: bool = False
    end: Fraction | None = None

    def feed(self, packet: Any, shift: Fraction) -> Iterator[Any]:
        from av.subtitles.subtitle import SubtitleSet

        if not packet.size or packet.pts is None:
            return
        subset = self.in_stream.codec_context.decode2(packet)
        if subset is None:
            return
        start = Fraction(packet.pts) * packet.time_base - shift
        dur = Fraction(packet.duration or 0) * packet.time_base
        if not dur and subset.end_display_time:
            dur = Fraction(subset.end_display_time, 1000)
        cut = _sub_window(start, dur, self.end)  # keep only what is shown in [0, end)
        if cut is None:
            return
        start, dur = cut
        ms = Fraction(1, 1000)
        texts = [r.ass for r in subset.rects if getattr(r, "ass", None)]
        if not texts:
            return
        text = b"\n".join(texts)
        pts = round(start / ms)
        length = max(1, round(dur / ms))
        sub = SubtitleSet.create(text=text, start=0, end=length, pts=pts)
        pkt = self.stream.codec_context.encode_subtitle(sub)
        pkt.stream = self.stream
        pkt.time_base = ms
        pkt.pts = pkt.dts = pts
        pkt.duration = length
        yield pkt


def _allowed_lead(kind: str, stream: Any) -> Fraction | None:
    """How long before output t=0 a copied audio packet may start (``None``: any time).

    mp4/mov keep such a packet (AAC priming, a frame straddling t=0) and hide its head with an
    edit list. Matroska/WebM cannot store a time before 0 beyond the codec delay the track
    declares (CodecDelay): an earlier packet makes the muxer shift *every* stream, which
    started the video one audio frame (~21 ms) after the audio. There the packet is dropped:
    the audio that remains keeps its exact place, and starts at most one audio frame late.
    """
    if kind in _EDIT_LIST_KINDS:
        return None
    cc = stream.codec_context
    delay, rate = getattr(cc, "delay", 0) or 0, getattr(cc, "sample_rate", 0) or 0
    return Fraction(delay, rate) if stream.type == "audio" and delay > 0 and rate else Fraction(0)


def _place_copy(packet: Any, shift: Fraction, lead: Fraction | None) -> bool:
    """Move a copied audio/subtitle packet onto the output timeline (t=0 = the source's first
    video frame); return False when it must be left out.

    The same rule for every container: nothing that ends before t=0 is kept; audio may start
    before t=0 only by ``lead`` (see :func:`_allowed_lead`); a subtitle that straddles t=0
    is cut to start at 0.
    """
    tb = packet.time_base
    off = round(shift / tb)
    first = packet.pts if packet.pts is not None else packet.dts
    start = Fraction(first - off) * tb
    end = start + Fraction(packet.duration or 0) * tb
    if packet.stream.type == "audio":
        if end < 0 or (start < 0 and lead is not None and -start > lead):
            return False
    elif start < 0:
        if end <= 0:
            return False
        packet.duration = int(packet.duration) - (off - first)  # the part after t=0
        packet.pts = packet.dts = off
    if packet.pts is not None:
        packet.pts -= off
    if packet.dts is not None:
        packet.dts -= off
    return True


def _set_metadata(out_stream: Any, info: StreamInfo) -> None:
    if info.language:
        out_stream.metadata["language"] = info.language
    if info.title:
        out_stream.metadata["title"] = info.title


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled")


def _kept(s: StreamInfo, shift: Fraction, end: Fraction | None) -> Fraction | None:
    """How much of a track a part of the source [shift, end) keeps (seconds)."""
    t0 = s.start if s.start is not None else shift
    t1 = t0 + s.duration if s.duration is not None else end
    if t1 is None:
        return None
    if end is not None:
        t1 = min(t1, end)
    return max(Fraction(0), t1 - max(t0, shift))


def _copy_in_window(packet: Any, shift: Fraction, end: Fraction | None) -> bool:
    """Cut a copied subtitle event to [shift, end) (absolute source time); False: leave it out."""
    tb = packet.time_base
    first = packet.pts if packet.pts is not None else packet.dts
    start = Fraction(first) * tb - shift
    cut = _sub_window(start, Fraction(packet.duration or 0) * tb,
                      None if end is None else end - shift)
    if cut is None:
        return False
    if cut[0] != start:
        packet.pts = packet.dts = round((cut[0] + shift) / tb)
    if packet.duration:
        packet.duration = max(1, round(cut[1] / tb))
    return True


def _mux(video_tmp: Path, part: Path, kind: str, source: VideoInfo | None, audio: list[_Track],
         subs: list[_Track], tempo: Fraction, shift: Fraction, chapters: bool,
         part_end: Fraction | None = None, cut: bool = False,
         cancel: threading.Event | None = None) -> int:
    """Write ``part``; returns the number of chapters written. ``cut``: only the part of the
    source from ``shift`` to ``part_end`` (absolute source seconds; None: to its end)."""
    src = av.open(str(source.path)) if (source is not None and (audio or subs)) else None
    vin = av.open(str(video_tmp))
    out = av.open(str(part), "w", format=_MUXER[kind])
    try:
        vs_in = vin.streams.video[0]
        vs_out = out.add_stream_from_template(vs_in)
        for key, value in vs_in.metadata.items():
            if key.lower() == "alpha_mode":
                vs_out.metadata["alpha_mode"] = value
        copies: dict[int, Any] = {}
        leads: dict[int, Fraction | None] = {}
        encoders: dict[int, _AudioEncoder] = {}
        converters: dict[int, _SubConverter] = {}
        for track in audio + subs:
            in_stream = src.streams[track.info.index]
            if track.mode == "copy":
                os_ = out.add_stream_from_template(in_stream)
                copies[track.info.index] = os_
                leads[track.info.index] = _allowed_lead(kind, in_stream)
            elif track.mode == "convert":
                conv = _SubConverter(out, in_stream, track.target)
                conv.cut, conv.end = cut, None if part_end is None else part_end - shift
                converters[track.info.index] = conv
                os_ = conv.stream
            else:
                enc = _AudioEncoder(out, in_stream, track.target, tempo, shift,
                                    declared=_kept(track.info, shift, part_end) if cut
                                    else track.info.duration, end=part_end)
                encoders[track.info.index] = enc
                os_ = enc.stream
            _set_metadata(os_, track.info)
        n_chapters = _copy_chapters(out, source, tempo, shift, part_end) if chapters else 0
        if source is not None and not source.is_image_sequence:
            _copy_container_metadata(out, source)

        def video_packets() -> Iterator[tuple[Fraction, int, Any]]:
            for packet in vin.demux(vs_in):
                if packet.size == 0 or packet.dts is None and packet.pts is None:
                    continue
                packet.stream = vs_out
                yield _ts(packet), 0, packet

        def side_packets() -> Iterator[tuple[Fraction, int, Any]]:
            if src is None:
                return
            selected = [src.streams[t.info.index] for t in audio + subs]
            for packet in src.demux(selected):
                idx = packet.stream.index
                if idx in encoders:
                    for p in encoders[idx].feed(packet):
                        yield _ts(p), 1, p
                elif idx in converters:
                    for p in converters[idx].feed(packet, shift):
                        yield _ts(p), 1, p
                elif packet.size and (packet.pts is not None or packet.dts is not None):
                    if (cut and packet.stream.type == "subtitle"
                            and not _copy_in_window(packet, shift, part_end)):
                        continue
                    if _place_copy(packet, shift, leads[idx]):
                        packet.stream = copies[idx]
                        yield _ts(packet), 1, packet
            for enc in encoders.values():
                for p in enc.flush():
                    yield _ts(p), 1, p

        for _, _, packet in heapq.merge(video_packets(), side_packets(),
                                        key=lambda item: (item[0], item[1])):
            _check(cancel)
            out.mux(packet)
        out.close()
        return n_chapters
    finally:
        for c in (out, vin, src):
            if c is not None:
                try:
                    c.close()
                except Exception as exc:  # noqa: BLE001 - closing after an error
                    log.debug("closing after an error: %s", exc)


def _copy_chapters(out: Any, source: VideoInfo | None, tempo: Fraction, shift: Fraction,
                   end: Fraction | None = None) -> int:
    if source is None or not source.chapters:
        return 0
    tb = Fraction(1, 1000)
    chapters = []
    for n, ch in enumerate(source.chapters):
        start = max(Fraction(0), (ch.start - shift) / tempo)
        stop = ((min(ch.end, end) if end is not None else ch.end) - shift) / tempo
        if stop <= start:
            continue
        meta = {"title": ch.title} if ch.title else {}
        chapters.append({"id": n + 1, "start": round(start / tb), "end": round(stop / tb),
                         "time_base": tb, "metadata": meta})
    if chapters:
        out.set_chapters(chapters)
    return len(chapters)


def _copy_container_metadata(out: Any, source: VideoInfo) -> None:
    try:
        with av.open(str(source.path)) as src:
            for key, value in src.metadata.items():
                if key.lower() not in ("encoder", "major_brand", "minor_version",
                                       "compatible_brands", "creation_time", "duration"):
                    out.metadata[key] = value
    except av.FFmpegError:
        pass


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------


def _measure_stream(container: Any, stream: Any,
                    cancel: threading.Event | None = None) -> tuple[float, float]:
    lo: Fraction | None = None
    hi: Fraction | None = None
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
    fallback = 1 / Fraction(rate) if stream.type == "video" and rate else Fraction(0)
    for packet in container.demux(stream):
        _check(cancel)
        if packet.pts is None or not packet.size:
            continue
        t0 = Fraction(packet.pts) * packet.time_base
        dur = Fraction(packet.duration or 0) * packet.time_base
        t1 = t0 + (dur or fallback)
        lo = t0 if lo is None or t0 < lo else lo
        hi = t1 if hi is None or t1 > hi else hi
    if lo is None or hi is None:
        return 0.0, 0.0
    if stream.start_time is not None:
        lo = max(lo, Fraction(stream.start_time) * stream.time_base)
    return float(lo), float(hi - lo)


def measure(path: Path, cancel: threading.Event | None = None
            ) -> tuple[float, float, float | None, float | None, int, int, int]:
    """(video_start, video_duration, audio_start, audio_duration, n_audio, n_subs, n_chapters)."""
    with av.open(str(path)) as c:
        v_start, v_dur = (_measure_stream(c, c.streams.video[0], cancel) if c.streams.video
                          else (0.0, 0.0))
        n_audio, n_subs = len(c.streams.audio), len(c.streams.subtitles)
        n_chapters = len(c.chapters())
    a_start = a_dur = None
    if n_audio:
        with av.open(str(path)) as c:
            a_start, a_dur = _measure_stream(c, c.streams.audio[0], cancel)
    return v_start, v_dur, a_start, a_dur, n_audio, n_subs, n_chapters


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace_folder(tmp: Path, dst: Path) -> None:
    """Move a finished png folder onto ``dst`` (replacing an older one only once it's done)."""
    if dst.exists() and not dst.is_dir():
        raise InputError(f"{dst} exists and is not a folder")
    old = None
    if dst.exists():
        old = _temp_sibling(dst, "old", "")
        os.replace(dst, old)
    os.replace(tmp, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def finalize(
    video_tmp: Path, dst: Path, source: VideoInfo | None, *, tempo: Fraction = Fraction(1),
    audio: str = "copy", keep_subtitles: bool = True, time_offset: Fraction = Fraction(0),
    duration: Fraction | None = None,
    cancel: threading.Event | None = None,
) -> MuxReport:
    """Mux ``video_tmp`` with the source's audio/subtitles/chapters into ``dst`` atomically.

    ``tempo`` is the speed factor of the output relative to the source (``1/4`` = 4x slower).
    ``time_offset`` (seconds) is the source time, after the video's start, that output t=0
    corresponds to (for outputs made from a later part of the source); ``duration`` (source
    seconds from there) where that part ends: audio, subtitles and chapters are cut to it.
    ``cancel`` is checked between packets, and the file is read back before it is published, so
    a cancel at any point leaves nothing under ``dst``.
    """
    video_tmp, dst = Path(video_tmp), Path(dst)
    tempo = Fraction(tempo)
    if audio not in ("copy", "stretch", "drop"):
        raise InputError(f"bad audio mode '{audio}': use copy, stretch or drop")
    if tempo <= 0:
        raise InputError(f"bad tempo {tempo}")
    if source is not None and (_same_file(dst, source.path) or dst.resolve() == source.path.resolve()):
        raise InputError(f"output {dst} would overwrite the input")
    if not video_tmp.exists():
        raise MediaError(f"the encoded video {video_tmp} is missing")
    kind = "png-folder" if video_tmp.is_dir() else output_kind(dst)

    if kind in ("png-folder", "gif"):
        if kind == "png-folder":
            _replace_folder(video_tmp, dst)
            return MuxReport(0, "none", 0, [], 0, None, None, 0.0, None, None, path=dst)
        os.replace(video_tmp, dst)
        v_start, v_dur, *_ = measure(dst)
        return MuxReport(0, "none", 0, [], 0, v_dur, None, v_start, None, None, path=dst)

    shift = (source.start if source is not None else Fraction(0)) + Fraction(time_offset)
    cut = bool(time_offset) or duration is not None
    end = shift + Fraction(duration) if duration is not None else None
    tracks, mode, notes = _plan_audio(source, kind, tempo, audio, (shift, end) if cut else None)
    subs, dropped = _plan_subs(source, kind, tempo, keep_subtitles)
    chapters = source is not None and bool(source.chapters)
    part = _temp_sibling(dst, "part", dst.suffix.lower())
    try:
        try:
            _mux(video_tmp, part, kind, source, tracks, subs, tempo, shift, chapters, end, cut,
                 cancel)
        except CancelledError:
            raise
        except Exception as exc:  # subtitles must never cost the video
            if not subs:
                raise
            _remove(part)
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            log.warning("muxing subtitles failed (%s); writing the video without them", reason)
            dropped += [f"#{t.info.index} {t.info.codec}: mux failed ({reason})" for t in subs]
            subs = []
            _mux(video_tmp, part, kind, source, tracks, subs, tempo, shift, chapters, end, cut,
                 cancel)
        measured = measure(part, cancel)
        os.replace(part, dst)
    except (InputError, CancelledError):
        _remove(part)
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
        _remove(part)
        raise MediaError(f"writing {dst.name} failed: {str(exc).splitlines()[0]}") from exc
    except BaseException:
        _remove(part)
        raise
    video_tmp.unlink(missing_ok=True)

    v_start, v_dur, a_start, a_dur, n_audio, n_subs, n_ch = measured
    report = MuxReport(
        audio_streams=n_audio, audio_mode=mode,
        subtitle_streams=n_subs, subtitles_dropped=dropped, chapters=n_ch,
        video_duration=v_dur, audio_duration=a_dur, video_start=v_start, audio_start=a_start,
        av_offset=(a_start - v_start) if a_start is not None else None, path=dst, notes=notes,
    )
    log.info("muxed %s: %s", dst, report)
    return report
