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

from . import _allocator
from .errors import CancelledError, InputError, MediaError, MediaInputError
from .scenes import DupDetector, SceneDetector, thumbnail
from .segments import DEFAULT_SEGMENT_SECONDS, Segment, manifest_key, plan_segments, work_dir_for
from .timing import RateSpec, Step, TimingPlan, output_rate, parse_rate
from .video import concat, mux
from .video.reader import Frame, VideoInfo, probe, read_frames
from .video.writer import EncodeOptions, VideoWriter, output_kind, plan_encoding

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
    backend: str = "auto"
    threads: int | None = None  # CPU inference threads (None: PyTorch's default)
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
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS  # source seconds per segment (0: one)
    resume: bool = False  # continue from the completed segments of an interrupted run
    workers: int | None = None  # render segments on N local Ray workers
    ray_address: str | None = None  # or on an existing Ray cluster

    def output_key(self) -> dict:
        """The options that decide the output frames (what a resume must match)."""
        skip = {"overwrite", "resume", "workers", "ray_address", "device", "backend", "threads"}
        if self.model_file:
            skip.add("model")  # the CLI always names a model; a model file overrides it
        return {k: str(v) for k, v in asdict(self).items() if k not in skip}

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
    segments: int = 1
    segments_resumed: int = 0
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


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return what was created (to undo on failure)."""
    made = []
    p = folder
    while not p.exists():
        made.append(p)
        p = p.parent
    for d in reversed(made):
        d.mkdir()
    return list(reversed(made))


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


def _timing_plan(out_rate: Fraction, tempo: Fraction, source_rate: Fraction,
                 origin: Fraction | None = None, start_step: int = 0) -> TimingPlan:
    step = tempo / out_rate
    return TimingPlan(out_rate, tempo, source_rate=source_rate,
                      tolerance=min(Fraction(1, 2000), step / 4), origin=origin,
                      start_step=start_step)


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


# ---- one segment: decode -> plan -> infer -> encode, three overlapping stages ------------------

@dataclass
class SegmentJob:
    """Everything a worker needs to render one segment (picklable, for Ray)."""

    info: VideoInfo
    opts: Options
    out_rate: Fraction
    tempo: Fraction
    segment: Segment
    out_path: Path  # the finished segment file (or PNG folder) in the work folder
    last: bool
    origin: Fraction  # pts of the clip's first frame
    model_label: str = "rife"


@dataclass
class SegmentStats:
    index: int
    frames_in: int = 0
    frames_out: int = 0
    interpolated: int = 0
    held: int = 0
    scene_cuts: int = 0
    duplicates: int = 0
    skipped: int = 0
    seconds: float = 0.0


def render_segment(job: SegmentJob, interp, progress: Callable[[int], None] | None = None,
                   cancel: threading.Event | None = None) -> SegmentStats:
    """Render one segment into ``job.out_path`` (atomically); the unit every executor runs.

    ``progress`` receives the number of output frames written so far in this segment.
    """
    return _SegmentRenderer(job, interp, progress, cancel or threading.Event()).run()


class _SegmentRenderer:
    def __init__(self, job: SegmentJob, interp, progress, cancel: threading.Event) -> None:
        self.job, self.interp, self.progress_cb, self.cancel = job, interp, progress, cancel
        info, o = job.info, job.opts
        self.info, self.opts = info, o
        self.stats = SegmentStats(job.segment.index)
        self.stop = threading.Event()
        self.scenes = SceneDetector(o.scene_threshold or SceneDetector.DEFAULT_THRESHOLD,
                                    enabled=o.scene_detect)
        self.dups = DupDetector() if o.dedup else None
        seg = job.segment
        self.plan = _timing_plan(job.out_rate, job.tempo, info.rate, job.origin, seg.first_step)
        self.end_step = seg.end_step
        self.montage = None
        if o.montage:
            dtype = np.uint16 if info.bit_depth > 8 else np.uint8
            self.montage = _Montage(info.height, info.width, 4 if info.has_alpha else 3, dtype,
                                    f"fluidframes {job.model_label}")
        self._prep_cache: dict = {}
        self._last_report = 0.0

    # -- stages ----------------------------------------------------------------------------------
    def _decode(self) -> None:
        def corrupt(msg: str) -> None:
            self.stats.skipped += 1

        seg = self.job.segment
        start = seg.start if seg.index else None
        for frame in read_frames(self.info, on_corrupt=corrupt, start=start, stop=seg.stop):
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
            if item is _END or self.stop.is_set():
                return
            self.writer.write(item)

    def _check(self) -> None:
        if self.cancel.is_set():
            raise CancelledError("cancelled")
        for stage in (self.decoder, self.encoder):
            if stage.error is not None:
                raise stage.error
        if not self.encoder.is_alive():
            raise MediaError("the encoder stopped unexpectedly")

    def _emit(self, image: np.ndarray, source: np.ndarray) -> None:
        if self.montage is not None:
            image = self.montage.compose(source, image)
        while not self.stop.is_set():
            self._check()
            try:
                self.out_q.put(image, timeout=0.1)
                break
            except queue.Full:
                continue
        self.stats.frames_out += 1
        now = time.monotonic()
        if self.progress_cb and now - self._last_report > 0.2:
            self._last_report = now
            self.progress_cb(self.stats.frames_out)

    def _prepared(self, frame: Frame):
        p = self._prep_cache.get(frame.index)
        if p is None:
            p = self.interp.prepare(frame.image)
            self._prep_cache = {k: v for k, v in self._prep_cache.items() if k >= frame.index - 1}
            self._prep_cache[frame.index] = p
        return p

    def _render(self, steps: list[Step], frames: dict[int, Frame], cut: bool) -> None:
        """Output frames for ``steps``; all share one (left, right) source pair."""
        if self.end_step is not None:
            steps = [s for s in steps if s.index < self.end_step]
        if not steps:
            return
        interp_steps = [s for s in steps if not s.is_source and not cut]
        made = {}
        if interp_steps:
            p0 = self._prepared(frames[interp_steps[0].left])
            p1 = self._prepared(frames[interp_steps[0].right])
            outs = self.interp.run(p0, p1, [float(s.t) for s in interp_steps])
            made = {s.index: img for s, img in zip(interp_steps, outs)}
            self.stats.interpolated += len(outs)
        for s in steps:
            source = frames[s.left].image
            if s.index in made:
                self._emit(made[s.index], source)
            else:
                self.stats.held += 1
                self._emit(frames[s.nearest if cut else s.left].image, source)

    def _render_groups(self, steps: list[Step], frames: dict[int, Frame], cut: bool) -> None:
        group: list[Step] = []
        for s in steps:
            if group and (s.left, s.right) != (group[0].left, group[0].right):
                self._render(group, frames, cut)
                group = []
            group.append(s)
        if group:
            self._render(group, frames, cut)

    def _infer(self) -> None:
        seg = self.job.segment
        frames: dict[int, Frame] = {}
        thumbs: dict[int, np.ndarray] = {}
        prev_idx: int | None = None
        dup_run = kept = 0
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
            overlap = seg.stop is not None and frame.pts >= seg.stop
            if not overlap:
                self.stats.frames_in += 1
            last_pts = frame.pts
            thumb = thumbnail(frame.image)
            # The segment's first frame and its overlap frame are never dropped as duplicates,
            # so neighbouring segments agree on them.
            if self.dups is not None and prev_idx is not None and not overlap:
                if dup_run < MAX_DUP_RUN and self.dups.is_duplicate(thumbs[prev_idx], thumb):
                    dup_run += 1
                    self.stats.duplicates += 1
                    continue
                dup_run = 0
            frame = Frame(frame.image, frame.pts, kept)  # dense numbering for the planner
            kept += 1
            frames[frame.index] = frame
            thumbs[frame.index] = thumb
            cut = prev_idx is not None and self.scenes.is_cut(thumbs[prev_idx], thumb)
            if cut:
                self.stats.scene_cuts += 1
            self._render_groups(self.plan.feed(frame.index, frame.pts), frames, cut)
            for k in [k for k in frames if k < frame.index - 1]:
                del frames[k]
                thumbs.pop(k, None)
            prev_idx = frame.index
        if prev_idx is None:
            raise MediaInputError(f"no decodable frames in {self.info.path}")
        if self.job.last:
            # frames dropped as duplicates at the very end still count for the clip's length
            tail = last_pts - frames[prev_idx].pts + 1 / self.info.rate
            self._render_groups(self.plan.finish(tail), frames, False)

    def run(self) -> SegmentStats:
        job, o = self.job, self.opts
        t0 = time.monotonic()
        width = self.info.width * (2 if o.montage else 1)
        self.writer = VideoWriter(
            job.out_path, width, self.info.height, job.out_rate, self.info,
            EncodeOptions(codec=o.codec, crf=o.crf, preset=o.preset, pix_fmt=o.pix_fmt, png=o.png),
            alpha=self.info.has_alpha, high_bit_depth=self.info.bit_depth > 8,
        )
        self.frames_q: queue.Queue = queue.Queue(_QUEUE)
        self.out_q: queue.Queue = queue.Queue(_QUEUE)
        self.decoder = _Stage("ff-decode", self._decode)
        self.encoder = _Stage("ff-encode", self._encode)
        done = False
        try:
            self.decoder.start()
            self.encoder.start()
            self._infer()
            _put(self.out_q, _END, self.stop)
            while self.encoder.is_alive():
                self.encoder.join(0.1)
                if self.cancel.is_set():
                    raise CancelledError("cancelled")
            if self.encoder.error is not None:
                raise self.encoder.error
            tmp = self.writer.close()
            self.stats.seconds = time.monotonic() - t0
            _write_stats(job.out_path, self.stats)
            os.replace(tmp, job.out_path)
            done = True
        finally:
            self.stop.set()
            self.decoder.join(5)
            # the encoder thread must be out of the writer before it is aborted: closing the
            # container under a running encode call crashed the process (Ctrl-C, ~1 run in 4)
            self.encoder.join(60)
            if not done:
                self.writer.abort()
        if self.progress_cb:
            self.progress_cb(self.stats.frames_out)
        self.stats.seconds = time.monotonic() - t0
        return self.stats


def _stats_file(segment_file: Path) -> Path:
    return segment_file.with_name(segment_file.name.split(".")[0] + ".stats.json")


def _write_stats(segment_file: Path, stats: SegmentStats) -> None:
    """Keep a finished segment's numbers beside it, so a resumed run can report the whole clip."""
    import json

    path = _stats_file(segment_file)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(stats)))
    os.replace(tmp, path)


def read_stats(segment_file: Path, index: int) -> SegmentStats:
    import json

    try:
        return SegmentStats(**json.loads(_stats_file(segment_file).read_text()))
    except (OSError, ValueError, TypeError):
        return SegmentStats(index)


def run_local(jobs: list[SegmentJob], interp, progress: Callable[[int, int], None],
              cancel: threading.Event) -> list[SegmentStats]:
    """The in-process executor: segments one after another with the loaded model."""
    out = []
    for job in jobs:
        idx = job.segment.index
        out.append(render_segment(job, interp, lambda n, i=idx: progress(i, n), cancel))
    return out


# ---- the whole run -----------------------------------------------------------------------------

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
    :class:`RunSummary`; raises a :class:`FluidFramesError` subclass on failure. Nothing is ever
    left under ``dst`` unless the run completed; completed segments of an interrupted run stay
    in the work folder (user cache) for ``resume=True``.
    """
    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}")
    opts = Options(**options)
    try:
        return _Run(Path(src), Path(dst) if dst else None, opts, progress, cancel,
                    interpolator).run()
    finally:
        _allocator.release_free_memory()  # a finished job hands its working set back


class _Run:
    def __init__(self, src, dst, opts: Options, progress, cancel, interpolator) -> None:
        self.src, self.dst, self.opts = src, dst, opts
        self.progress_cb = progress
        self.cancel = cancel or threading.Event()
        self.interp = interpolator
        self.warnings: list[str] = []

    # -- set-up: everything that can fail on bad input fails before decoding starts ---------
    def _setup(self) -> None:
        o = self.opts
        if not self.src.exists():
            raise MediaInputError(f"input not found: {self.src}")
        input_fps = parse_rate(str(o.input_fps)) if o.input_fps is not None else None
        self.info = probe(self.src, input_fps=input_fps)
        if self.info.is_image_sequence and input_fps is None:
            self.warnings.append(
                f"image folder without --input-fps: assuming {_fmt_rate(self.info.rate)} fps")
            log.warning(self.warnings[-1])
        if self.info.frame_count is not None and self.info.frame_count < 2:
            raise MediaInputError(
                f"{self.src} has {self.info.frame_count} frame(s): need at least two")
        if o.slowmo and o.audio not in ("stretch", "drop"):
            raise InputError("--audio must be 'stretch' or 'drop'")
        spec = o.rate_spec()
        self.out_rate, self.tempo = output_rate(self.info.rate, spec)
        factor = self.out_rate / self.info.rate / self.tempo
        dst = self.dst or default_output(self.src, self.info, self.out_rate,
                                         factor if not o.slowmo else Fraction(spec.factor),
                                         o.slowmo, o.png)
        self.dst = dst
        self.kind = output_kind(dst, o.png)
        if dst.resolve() == self.src.resolve():
            raise InputError(f"output {dst} is the input; choose another name")
        if dst.exists() and not o.overwrite:
            raise InputError(f"{dst} exists; use --overwrite to replace it")
        if dst.exists() and dst.is_dir() != (self.kind == "png-folder"):
            raise InputError(f"{dst} exists and is a {'folder' if dst.is_dir() else 'file'}")
        _check_writable(dst)
        width = self.info.width * (2 if o.montage else 1)
        plan_encoding(dst, width, self.info.height, self.info,
                      EncodeOptions(codec=o.codec, crf=o.crf, preset=o.preset, pix_fmt=o.pix_fmt,
                                    png=o.png),
                      self.info.has_alpha, self.info.bit_depth > 8)
        if o.workers is not None and o.workers < 1:
            raise InputError("--workers must be at least 1")
        self.executor = None
        if o.workers or o.ray_address:
            try:
                from .distributed import RayExecutor
            except ImportError as exc:
                raise InputError(
                    "--workers/--ray-address need Ray: pip install 'fluidframes[distributed]' "
                    f"({exc})") from None
            self.executor = RayExecutor(workers=o.workers, address=o.ray_address, opts=o)
        if self.interp is None and self.executor is None:
            from .engine import Interpolator
            from .models.registry import DEFAULT_MODEL

            self.interp = Interpolator(model=o.model or DEFAULT_MODEL, model_file=o.model_file,
                                       device=o.device, precision=o.precision, scale=o.scale,
                                       backend=o.backend, threads=o.threads)
        self.plan = _timing_plan(self.out_rate, self.tempo, self.info.rate)
        self.total = self.plan.count_for(self.info.duration) if self.info.duration else None

    def _model_label(self) -> str:
        if self.interp is not None:
            return self.interp.info.name
        o = self.opts
        return Path(o.model_file).name if o.model_file else (o.model or "rife-4.25")

    def _jobs(self) -> list[SegmentJob]:
        o = self.opts
        single = self.kind == "gif" or (o.segment_seconds or 0) <= 0
        self.segments = plan_segments(self.info, self.plan, o.segment_seconds, single=single)
        ext = "" if self.kind == "png-folder" else self.dst.suffix.lower()
        key = manifest_key(self.info, {**o.output_key(), "out_rate": str(self.out_rate)},
                           self.segments)
        self.work = work_dir_for(self.dst, key, ext, o.resume)
        origin = Fraction(0)
        return [SegmentJob(self.info, o, self.out_rate, self.tempo, seg,
                           self.work.segment_file(seg), seg.index == len(self.segments) - 1,
                           origin, self._model_label())
                for seg in self.segments]

    def run(self) -> RunSummary:
        self._setup()
        t0 = time.monotonic()
        jobs = self._jobs()
        todo = [j for j in jobs if not self.work.done(j.segment)]
        resumed = len(jobs) - len(todo)
        done_frames = {j.segment.index: 0 for j in todo}
        base = sum((j.segment.end_step or 0) - j.segment.first_step
                   for j in jobs if j not in todo)
        last = [0.0]

        def on_progress(index: int, frames: int) -> None:
            done_frames[index] = frames
            now = time.monotonic()
            if self.progress_cb and now - last[0] > 0.2:
                last[0] = now
                out = base + sum(done_frames.values())
                el = now - t0
                self.progress_cb(Progress(out, self.total, 0, el, out / el if el > 0 else 0.0))

        try:
            if self.executor is not None:
                stats = self.executor.run(todo, on_progress, self.cancel)
            else:
                stats = run_local(todo, self.interp, on_progress, self.cancel)
            stats = [read_stats(j.out_path, j.segment.index) for j in jobs if j not in todo] + stats
            parts = [self.work.segment_file(s) for s in self.segments]
            self._made_dirs = _make_parents(self.dst.parent)
            video_tmp, frames_out = concat.join(parts, [s.first_step for s in self.segments],
                                                self.out_rate, self.dst, self.kind,
                                                self.info.rotation)
            report = self._finalize(video_tmp)
        except KeyboardInterrupt:
            raise CancelledError(self._stopped_message("interrupted")) from None
        except CancelledError:
            raise CancelledError(self._stopped_message("cancelled")) from None
        except BaseException:
            if not self._completed_segments():
                self.work.remove()
            for d in reversed(getattr(self, "_made_dirs", [])):
                try:
                    d.rmdir()  # only if still empty
                except OSError:
                    pass
            raise
        self.work.remove()
        if self.progress_cb:
            el = time.monotonic() - t0
            self.progress_cb(Progress(frames_out, frames_out, 0, el, frames_out / el if el else 0.0))
        return self._summary(report, stats, frames_out, time.monotonic() - t0, resumed)

    def _completed_segments(self) -> int:
        return sum(1 for s in self.segments if self.work.done(s))

    def _stopped_message(self, what: str) -> str:
        n = self._completed_segments()
        if n and len(self.segments) > 1:
            return (f"{what}; no output was written ({n} of {len(self.segments)} segments kept: "
                    "run the same command with --resume to continue)")
        self.work.remove()
        return f"{what}; no output was written"

    def _finalize(self, video_tmp: Path):
        o = self.opts
        audio = "drop" if (o.slowmo and o.audio == "drop") else (
            "stretch" if self.tempo != 1 else "copy")
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

    def _summary(self, report, stats: list[SegmentStats], frames_out: int, secs: float,
                 resumed: int) -> RunSummary:
        frame_out = 1 / self.out_rate
        out_dur = float(frames_out * frame_out)
        in_dur = float(self.info.duration) if self.info.duration else out_dur * float(self.tempo)
        sync_err = in_sync = None
        audio = {}
        if report is not None:
            audio = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report).items()}
            out_dur = float(report.video_duration)
            sync_err = self._sync_error(report)
            if sync_err is not None:
                in_sync = abs(sync_err) <= float(frame_out) + 1e-6
        total = lambda name: sum(getattr(s, name) for s in stats)
        return RunSummary(
            input=str(self.src), output=str(self.dst), model=self._model_label(),
            device=self.interp.info.device if self.interp is not None else "ray",
            frames_in=total("frames_in"), frames_out=frames_out,
            interpolated=total("interpolated"), held=total("held"), scene_cuts=total("scene_cuts"),
            duplicates_dropped=total("duplicates"), skipped_packets=total("skipped"),
            source_rate=str(self.info.rate), output_rate=str(self.out_rate), tempo=str(self.tempo),
            input_duration=in_dur, output_duration=out_dur,
            expected_duration=in_dur / float(self.tempo), seconds=secs,
            speed_fps=frames_out / secs if secs > 0 else 0.0, audio=audio,
            av_sync_error=sync_err, in_sync=in_sync,
            subtitles_dropped=list(getattr(report, "subtitles_dropped", []) or []),
            segments=len(self.segments), segments_resumed=resumed, warnings=self.warnings,
        )
