"""The staged video pipeline: decode -> plan -> infer -> encode -> mux, in bounded threads.

One decode thread and one encode thread are joined to the inference loop (the calling thread)
by bounded queues, so decoding, inference and encoding overlap and memory stays flat whatever
the clip length: at any moment the pipeline holds a few decoded frames, the two source frames
of the current pair (with their cached network features) and a few encoded-to-be frames.

The CLI, the web app and batch runners all call :func:`interpolate_video`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import CancelledError, InputError, MediaError, MediaInputError
from .scenes import DupDetector, SceneDetector, thumbnail
from .timing import RateSpec, Step, TimingPlan, output_rate, parse_rate
from .video import mux
from .video.reader import Frame, VideoInfo, probe, read_frames
from .video.writer import EncodeOptions, VideoWriter, output_kind

log = logging.getLogger(__name__)

_QUEUE = 8  # frames in flight between stages
_END = object()
#: Longest run of repeated frames that --dedup treats as animation on twos/threes/fours; a
#: longer freeze is a real pause and is kept as it is.
MAX_DUP_RUN = 3


@dataclass
class Options:
    """Every knob of a run; field names match the CLI flags and the web API fields."""

    multi: int | None = None
    exp: int | None = None
    fps: Fraction | str | float | None = None
    slowmo: bool = False
    audio: str = "stretch"  # with --slowmo: 'stretch' (keep pitch) or 'drop'
    model: str | None = None
    model_file: str | None = None
    device: str = "auto"
    precision: str = "auto"
    scale: float = 1.0
    montage: bool = False
    scene_detect: bool = True
    scene_threshold: float | None = None
    dedup: bool = False
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    png: bool = False
    input_fps: Fraction | str | float | None = None
    overwrite: bool = False
    keep_subtitles: bool = True

    def rate_spec(self) -> RateSpec:
        if self.multi is not None and self.exp is not None:
            raise InputError("give either --multi or --exp, not both")
        fps = parse_rate(str(self.fps)) if self.fps is not None else None
        if self.exp is not None:
            return RateSpec.from_exp(self.exp, fps=fps, slowmo=self.slowmo)
        return RateSpec(multi=self.multi, fps=fps, slowmo=self.slowmo)


@dataclass
class Progress:
    frames_out: int
    frames_total: int | None
    frames_in: int
    elapsed: float
    fps: float  # output frames per second of wall time

    @property
    def eta(self) -> float | None:
        if not self.frames_total or self.fps <= 0:
            return None
        return max(0.0, (self.frames_total - self.frames_out) / self.fps)


@dataclass
class RunSummary:
    input: str
    output: str
    model: str
    device: str
    frames_in: int
    frames_out: int
    interpolated: int  # frames made by the model
    held: int  # output frames that repeat a source frame instead (cuts, tail, exact hits)
    scene_cuts: int
    duplicates_dropped: int
    skipped_packets: int
    source_rate: str
    output_rate: str
    tempo: str
    input_duration: float
    output_duration: float
    expected_duration: float
    seconds: float
    speed_fps: float  # output frames per second of wall time
    audio: dict = field(default_factory=dict)
    av_sync_error: float | None = None  # seconds, measured on the written file
    in_sync: bool | None = None
    subtitles_dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        sync = ""
        if self.in_sync is not None:
            sync = f", A/V {'in sync' if self.in_sync else 'OUT OF SYNC'} ({self.av_sync_error * 1000:+.1f} ms)"
        return (
            f"{self.output}: {self.frames_in} -> {self.frames_out} frames, "
            f"{_fmt_rate(Fraction(self.source_rate))} -> {_fmt_rate(Fraction(self.output_rate))} fps, "
            f"{self.output_duration:.3f} s, {self.interpolated} interpolated, "
            f"{self.scene_cuts} cuts, {self.seconds:.1f} s at {self.speed_fps:.2f} fps{sync}"
        )


def _fmt_rate(r: Fraction) -> str:
    if r.denominator == 1:
        return str(r.numerator)
    return f"{float(r):.3f}".rstrip("0").rstrip(".")


def default_output(src: Path, info: VideoInfo, out_rate: Fraction, factor: Fraction,
                   slowmo: bool, png: bool) -> Path:
    """``<stem>_<N>X_<fps>fps.<ext>`` beside the input, the name RIFE users know."""
    n = _fmt_rate(factor)
    tag = f"{n}X{'_slowmo' if slowmo else ''}_{_fmt_rate(out_rate)}fps"
    base = src if not info.is_image_sequence else src.parent / src.name
    stem = base.stem if not info.is_image_sequence else base.name
    if png:
        return base.parent / f"{stem}_{tag}"
    ext = src.suffix.lower() if src.suffix.lower() in (".mp4", ".mkv", ".mov", ".webm", ".gif") else ".mp4"
    return base.parent / f"{stem}_{tag}{ext}"


def _check_writable(dst: Path) -> None:
    """Fail before any work if the output's folder cannot be created or written."""
    folder = dst.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {dst}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {dst}: no permission to write in {folder}")


# ---- the stages ----------------------------------------------------------------------------------

class _Stage(threading.Thread):
    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Montage:
    """Side by side: the source frame that would be on screen, and ours; labelled."""

    def __init__(self, height: int, width: int, channels: int, dtype, right_label: str) -> None:
        self.labels = [self._label("original", height, width, dtype),
                       self._label(right_label, height, width, dtype)]
        self.channels = channels

    @staticmethod
    def _label(text: str, height: int, width: int, dtype):
        from PIL import Image, ImageDraw, ImageFont

        size = max(10, min(height, width) // 22)
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            font = ImageFont.load_default()
        pad = max(2, size // 3)
        box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
        w = min(width, box[2] - box[0] + 2 * pad)
        h = min(height, box[3] - box[1] + 2 * pad)
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).text((pad - box[0], pad - box[1]), text, fill=255, font=font)
        m = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
        return m, (pad, pad)

    def compose(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        out = np.concatenate([left, right], axis=1)
        peak = 255 if out.dtype == np.uint8 else 65535
        w = left.shape[1]
        for (mask, (y, x)), off in zip(self.labels, (0, w)):
            h, lw = mask.shape[:2]
            region = out[y : y + h, off + x : off + x + lw, :3].astype(np.float32)
            shade = region * (1 - 0.55 * np.minimum(1, mask * 4 + 0.6))  # dark box
            region = shade * (1 - mask) + peak * mask
            out[y : y + h, off + x : off + x + lw, :3] = region.astype(out.dtype)
        return out


def interpolate_video(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    interpolator=None,
    **options,
) -> RunSummary:
    """Interpolate a video (or a folder of numbered images) and write the result.

    Options are the fields of :class:`Options` (``multi=4``, ``fps=60``, ``slowmo=True``, ...).
    ``interpolator`` lets a long-lived caller (the web app) reuse a loaded model. Returns a
    :class:`RunSummary`; raises a :class:`FluidFramesError` subclass on failure, after removing
    every temporary file (nothing is ever left under ``dst`` unless the run completed).
    """
    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}")
    opts = Options(**options)
    return _Run(Path(src), Path(dst) if dst else None, opts, progress, cancel, interpolator).run()


class _Run:
    def __init__(self, src, dst, opts: Options, progress, cancel, interpolator) -> None:
        self.src, self.dst, self.opts = src, dst, opts
        self.progress_cb = progress
        self.cancel = cancel or threading.Event()
        self.interp = interpolator
        self.stop = threading.Event()
        self.warnings: list[str] = []
        self.skipped = 0

    # -- set-up: everything that can fail on bad input fails before decoding starts ---------
    def _setup(self) -> None:
        o = self.opts
        if not self.src.exists():
            raise MediaInputError(f"input not found: {self.src}")
        input_fps = parse_rate(str(o.input_fps)) if o.input_fps is not None else None
        self.info = probe(self.src, input_fps=input_fps)
        if self.info.is_image_sequence and input_fps is None:
            self.warnings.append(f"image folder without --input-fps: assuming {_fmt_rate(self.info.rate)} fps")
            log.warning(self.warnings[-1])
        if self.info.frame_count is not None and self.info.frame_count < 2:
            raise MediaInputError(f"{self.src} has {self.info.frame_count} frame(s): need at least two")
        if o.slowmo and o.audio not in ("stretch", "drop"):
            raise InputError("--audio must be 'stretch' or 'drop'")
        spec = o.rate_spec()
        self.out_rate, self.tempo = output_rate(self.info.rate, spec)
        factor = self.out_rate / self.info.rate / self.tempo
        dst = self.dst or default_output(self.src, self.info, self.out_rate,
                                         factor if not o.slowmo else Fraction(spec.factor),
                                         o.slowmo, o.png)
        self.dst = dst
        kind = output_kind(dst, o.png)
        if dst.resolve() == self.src.resolve():
            raise InputError(f"output {dst} is the input; choose another name")
        if dst.exists() and not o.overwrite:
            raise InputError(f"{dst} exists; use --overwrite to replace it")
        if dst.exists() and dst.is_dir() != (kind == "png-folder"):
            raise InputError(f"{dst} exists and is a {'folder' if dst.is_dir() else 'file'}")
        _check_writable(dst)
        if self.interp is None:
            from .engine import Interpolator
            from .models.registry import DEFAULT_MODEL

            self.interp = Interpolator(model=o.model or DEFAULT_MODEL, model_file=o.model_file,
                                       device=o.device, precision=o.precision, scale=o.scale)
        w = self.info.width * (2 if o.montage else 1)
        try:
            self.writer = VideoWriter(
                dst, w, self.info.height, self.out_rate, self.info,
                EncodeOptions(codec=o.codec, crf=o.crf, preset=o.preset, pix_fmt=o.pix_fmt, png=o.png),
                alpha=self.info.has_alpha, high_bit_depth=self.info.bit_depth > 8,
            )
        except OSError as exc:
            raise InputError(f"cannot write {dst}: {exc.strerror or exc}") from None
        self.scenes = SceneDetector(o.scene_threshold or SceneDetector.DEFAULT_THRESHOLD,
                                    enabled=o.scene_detect)
        self.dups = DupDetector() if o.dedup else None
        step = self.tempo / self.out_rate
        self.plan = TimingPlan(self.out_rate, self.tempo, source_rate=self.info.rate,
                               tolerance=min(Fraction(1, 2000), step / 4))
        self.total = None
        if self.info.duration:
            self.total = self.plan.count_for(self.info.duration)
        self.montage = None
        if o.montage:
            c = 4 if self.info.has_alpha else 3
            dtype = np.uint16 if self.info.bit_depth > 8 else np.uint8
            self.montage = _Montage(self.info.height, self.info.width, c, dtype,
                                    f"fluidframes {self.interp.info.name}")

    # -- stages --------------------------------------------------------------------------------
    def _decode(self) -> None:
        def corrupt(msg: str) -> None:
            self.skipped += 1
            log.warning("skipped: %s", msg)

        for frame in read_frames(self.info, on_corrupt=corrupt):
            if not _put(self.frames_q, frame, self.stop):
                return
        _put(self.frames_q, _END, self.stop)

    def _encode(self) -> None:
        while True:
            try:
                item = self.out_q.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if item is _END:
                return
            self.writer.write(item)

    def _emit(self, image: np.ndarray, source: np.ndarray) -> None:
        if self.montage is not None:
            image = self.montage.compose(source, image)
        if not _put(self.out_q, image, self.stop):
            raise CancelledError("stopped")
        self.frames_out += 1
        now = time.monotonic()
        if self.progress_cb and (now - self._last_report > 0.2 or self.frames_out == self.total):
            self._last_report = now
            el = now - self.t0
            self.progress_cb(Progress(self.frames_out, self.total, self.frames_in, el,
                                      self.frames_out / el if el > 0 else 0.0))

    def _check(self) -> None:
        if self.cancel.is_set():
            raise CancelledError("cancelled")
        for stage in (self.decoder, self.encoder):
            if stage.error is not None:
                raise stage.error
        if not self.encoder.is_alive() and self.encoder.error is None and not self._encoder_done:
            raise MediaError("the encoder stopped unexpectedly")

    def _render(self, steps: list[Step], frames: dict[int, Frame], cut: bool) -> None:
        """Produce the output frames for ``steps``; all share one (left, right) pair."""
        interp_steps = [s for s in steps if not s.is_source and not cut]
        made = {}
        if interp_steps:
            left, right = interp_steps[0].left, interp_steps[0].right
            p0 = self._prepared(frames[left])
            p1 = self._prepared(frames[right])
            outs = self.interp.run(p0, p1, [float(s.t) for s in interp_steps])
            made = {s.index: img for s, img in zip(interp_steps, outs)}
            self.interpolated += len(outs)
        for s in steps:
            self._check()
            source = frames[s.left].image
            if s.index in made:
                self._emit(made[s.index], source)
            else:
                self.held += 1
                self._emit(frames[s.nearest if cut else s.left].image, source)

    def _prepared(self, frame: Frame):
        p = self._prep_cache.get(frame.index)
        if p is None:
            p = self.interp.prepare(frame.image)
            self._prep_cache = {k: v for k, v in self._prep_cache.items() if k >= frame.index - 1}
            self._prep_cache[frame.index] = p
        return p

    def _infer(self) -> None:
        frames: dict[int, Frame] = {}
        thumbs: dict[int, np.ndarray] = {}
        prev_idx: int | None = None
        dup_run = 0
        kept_idx = 0
        last_pts = Fraction(0)
        while True:
            self._check()
            try:
                item = self.frames_q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                break
            frame: Frame = item
            self.frames_in += 1
            thumb = thumbnail(frame.image)
            last_pts = frame.pts
            if self.dups is not None and prev_idx is not None:
                if dup_run < MAX_DUP_RUN and self.dups.is_duplicate(thumbs[prev_idx], thumb):
                    dup_run += 1
                    self.duplicates += 1
                    continue
                dup_run = 0
            # Re-number kept frames densely for the planner; keep the pts as decoded.
            frame = Frame(frame.image, frame.pts, kept_idx)
            kept_idx += 1
            frames[frame.index] = frame
            thumbs[frame.index] = thumb
            cut = prev_idx is not None and self.scenes.is_cut(thumbs[prev_idx], thumb)
            if cut:
                self.cuts += 1
            steps = self.plan.feed(frame.index, frame.pts)
            self._render_groups(steps, frames, cut)
            for k in [k for k in frames if k < frame.index - 1]:
                del frames[k]
                thumbs.pop(k, None)
            prev_idx = frame.index
        if self.frames_in == 0:
            raise MediaInputError(f"no decodable frames in {self.src}")
        if self.frames_in < 2:
            raise MediaInputError(f"{self.src} has only one frame: nothing to interpolate")
        # Frames dropped as duplicates at the very end still count for the clip's length.
        tail = last_pts - frames[prev_idx].pts + 1 / self.info.rate
        self._render_groups(self.plan.finish(tail), frames, False)

    def _render_groups(self, steps: list[Step], frames: dict[int, Frame], cut: bool) -> None:
        group: list[Step] = []
        for s in steps:
            if group and (s.left, s.right) != (group[0].left, group[0].right):
                self._render(group, frames, cut)
                group = []
            group.append(s)
        if group:
            self._render(group, frames, cut)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        self._setup()
        self.t0 = time.monotonic()
        self._last_report = 0.0
        self.frames_in = self.frames_out = self.interpolated = self.held = 0
        self.cuts = self.duplicates = 0
        self._prep_cache: dict = {}
        self._encoder_done = False
        self.frames_q: queue.Queue = queue.Queue(_QUEUE)
        self.out_q: queue.Queue = queue.Queue(_QUEUE)
        self.decoder = _Stage("ff-decode", self._decode)
        self.encoder = _Stage("ff-encode", self._encode)
        finished = False
        try:
            self.decoder.start()
            self.encoder.start()
            self._infer()
            _put(self.out_q, _END, self.stop)
            while self.encoder.is_alive():
                self.encoder.join(0.1)
                if self.cancel.is_set():
                    raise CancelledError("cancelled")
            self._encoder_done = True
            if self.encoder.error is not None:
                raise self.encoder.error
            video_tmp = self.writer.close()
            report = self._finalize(video_tmp)
            finished = True
        except KeyboardInterrupt:
            raise CancelledError("interrupted; no output was written") from None
        except CancelledError:
            raise CancelledError("cancelled; no output was written") from None
        finally:
            self.stop.set()
            if not finished:
                self.writer.abort()
            self.decoder.join(5)
            self.encoder.join(5)
        return self._summary(report)

    def _finalize(self, video_tmp: Path):
        o = self.opts
        audio = "drop" if (o.slowmo and o.audio == "drop") else ("stretch" if self.tempo != 1 else "copy")
        try:
            return mux.finalize(video_tmp, self.dst, self.info, tempo=self.tempo, audio=audio,
                                keep_subtitles=o.keep_subtitles)
        except BaseException:
            if video_tmp.is_dir():
                import shutil

                shutil.rmtree(video_tmp, ignore_errors=True)
            else:
                video_tmp.unlink(missing_ok=True)
            raise

    def _sync_error(self, report) -> float | None:
        """How far (s) the written audio sits from where the source puts it, at output speed.

        Audio that starts before the video in the source is either kept with a negative offset
        (mkv/webm) or trimmed to the video start (mp4/mov): both are in sync. The end is checked
        too: the audio must last as long as the source's, scaled by the tempo.
        """
        if report.av_offset is None or not self.info.audio:
            return None
        a0 = self.info.audio[0]
        tempo = float(self.tempo)
        src_offset = float((a0.start if a0.start is not None else self.info.start) - self.info.start)
        expected = src_offset / tempo
        if src_offset < 0 and abs(report.av_offset) < 1e-3:
            expected = 0.0  # pre-roll trimmed by the muxer
        err = report.av_offset - expected
        if a0.duration is not None and report.audio_duration is not None:
            trimmed = max(0.0, -src_offset) if expected == 0.0 else 0.0
            dur_err = report.audio_duration - (float(a0.duration) - trimmed) / tempo
            # one audio frame (AAC: 1024 samples) of slack for codec framing
            slack = 1024 / (a0.sample_rate or 48000) / tempo
            if abs(dur_err) > slack:
                err = dur_err if abs(dur_err) > abs(err) else err
        return err

    def _summary(self, report) -> RunSummary:
        secs = time.monotonic() - self.t0
        in_dur = float(self.plan.count_for(0) or 0)
        frame_out = 1 / self.out_rate
        out_dur = float(self.frames_out * frame_out)
        # source span the plan covered, from its own arithmetic
        src_span = Fraction(self.frames_out) * self.tempo / self.out_rate
        in_dur = float(self.info.duration) if self.info.duration else float(src_span)
        expected = in_dur / float(self.tempo)
        sync_err = None
        in_sync = None
        audio = {}
        if report is not None:
            audio = asdict(report)
            sync_err = self._sync_error(report)
            if sync_err is not None:
                in_sync = abs(sync_err) <= float(frame_out) + 1e-6
        return RunSummary(
            input=str(self.src), output=str(self.dst), model=self.interp.info.name,
            device=self.interp.info.device, frames_in=self.frames_in, frames_out=self.frames_out,
            interpolated=self.interpolated, held=self.held, scene_cuts=self.cuts,
            duplicates_dropped=self.duplicates, skipped_packets=self.skipped,
            source_rate=str(self.info.rate), output_rate=str(self.out_rate), tempo=str(self.tempo),
            input_duration=in_dur, output_duration=out_dur, expected_duration=expected,
            seconds=secs, speed_fps=self.frames_out / secs if secs > 0 else 0.0, audio=audio,
            av_sync_error=sync_err, in_sync=in_sync,
            subtitles_dropped=list(getattr(report, "subtitles_dropped", []) or []),
            warnings=self.warnings,
        )
