"""One segment: decode -> plan -> infer -> encode, three overlapping stages (+ the montage).

:func:`render_segment` is the unit of work every executor runs (in this process, or on a Ray
worker). One decode thread and one encode thread are joined to the inference loop (the calling
thread) by bounded queues, so decoding, inference and encoding overlap and memory stays flat
whatever the clip length: at any moment a segment holds a few decoded frames, the two source
frames of the current pair (with their prepared tensors) and a few frames waiting to be encoded.

The segment's file is written under a temporary name and renamed when complete; its numbers are
kept beside it (``*.stats.json``) so a resumed run can report the whole clip.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import CancelledError, MediaError, MediaInputError
from .options import VideoOptions
from .scenes import DupDetector, SceneDetector, thumbnail
from .segments import Segment
from .timing import Step, TimingPlan
from .video.reader import Frame, VideoInfo, read_frames
from .video.writer import EncodeOptions, VideoWriter

log = logging.getLogger(__name__)

_QUEUE = 8  # frames in flight between stages
_END = object()
#: Longest run of repeated frames that --dedup treats as animation on twos/threes/fours; a
#: longer freeze is a real pause and is kept as it is.
MAX_DUP_RUN = 3
#: Pixels the model renders per call (frames of one source pair are made in lots of this size).
LOT_PIXELS = 4 * 1024 * 1024


def encode_options(o: VideoOptions) -> EncodeOptions:
    return EncodeOptions(codec=o.codec, crf=o.crf, preset=o.preset, pix_fmt=o.pix_fmt, png=o.png)


def lossless_options(alpha: bool) -> EncodeOptions:
    """The segments of a GIF run: lossless RGB(A) FFV1, read twice by :mod:`.video.gif`."""
    return EncodeOptions(codec="ffv1", pix_fmt="bgra" if alpha else "bgr0")


# ---- threads -------------------------------------------------------------------------------------

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


def _stop_on_cancel(cancel: threading.Event):
    """A context in which every torch operation of this thread first checks ``cancel``.

    One model call for one 720p frame is ~600 torch operations and can take seconds on a busy
    CPU; checked before each, a cancel stops the model within milliseconds instead of at the end
    of the call (measured: 0.09 s on a 10 s frame). The check costs a Python call per operation,
    lost in the noise of the operations themselves. Nothing is half-written: the call is
    abandoned and the segment's temporary files are removed as for any cancel.
    """
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if cancel.is_set():
                raise CancelledError("cancelled")
            return func(*args, **(kwargs or {}))

    return _Mode()


def timing_plan(out_rate: Fraction, tempo: Fraction, source_rate: Fraction,
                origin: Fraction | None = None, start_step: int = 0) -> TimingPlan:
    """The clip's global output plan (a segment's starts at ``start_step``)."""
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
        # the label sits ``pad`` in from the corner: cut to what fits (tiny frames: none)
        w = min(width - pad, box[2] - box[0] + 2 * pad)
        h = min(height - pad, box[3] - box[1] + 2 * pad)
        if w <= 0 or h <= 0:
            return None
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).text((pad - box[0], pad - box[1]), text, fill=255, font=font)
        m = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
        return m, (pad, pad)

    def compose(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        out = np.concatenate([left, right], axis=1)
        peak = 255 if out.dtype == np.uint8 else 65535
        w = left.shape[1]
        for label, off in zip(self.labels, (0, w)):
            if label is None:
                continue
            mask, (y, x) = label
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
    opts: VideoOptions
    out_rate: Fraction
    tempo: Fraction
    segment: Segment
    out_path: Path  # the finished segment file (or PNG folder) in the work folder
    last: bool
    model_label: str = "rife"
    lossless: bool = False  # a GIF run: the segment is FFV1 (lossless_options), 8 bit


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
        self.plan = timing_plan(job.out_rate, job.tempo, info.rate, seg.origin, seg.first_step)
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
        start = seg.start if seg.index or self.opts.trimmed else None
        for frame in read_frames(self.info, on_corrupt=corrupt, start=start, stop=seg.stop,
                                 allow_partial=self.opts.allow_partial):
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
        # The model runs on a few frames at a time, each lot written out before the next is
        # made: memory stays bounded and a cancel is seen within one lot, however many frames
        # one source pair spans (64x, a high --fps on a low-rate or variable-rate source).
        lot = self._lot_size()
        made: dict[int, np.ndarray] = {}
        todo = 0  # next interp_steps index to run
        for s in steps:
            source = frames[s.left].image
            if todo < len(interp_steps) and s is interp_steps[todo]:
                if s.index not in made:
                    self._check()
                    part = interp_steps[todo : todo + lot]
                    p0 = self._prepared(frames[part[0].left])
                    p1 = self._prepared(frames[part[0].right])
                    outs = self.interp.run(p0, p1, [float(x.t) for x in part])
                    made = {x.index: img for x, img in zip(part, outs)}
                    self.stats.interpolated += len(outs)
                todo += 1
                self._emit(made.pop(s.index), source)
            else:
                self.stats.held += 1
                self._emit(frames[s.nearest if cut else s.left].image, source)

    def _lot_size(self) -> int:
        """Frames the model makes in one call: about 4 megapixels' worth, at least one."""
        return max(1, min(16, LOT_PIXELS // max(1, self.info.width * self.info.height)))

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
            if overlap and self.opts.loop and self.job.last:
                break  # a trimmed loop ends at the part's end: it wraps to its first frame
            if not overlap and (seg.origin is None or frame.pts >= seg.origin):
                self.stats.frames_in += 1  # (not the frame before a --start, decoded for it)
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
            if self.opts.loop and self.end_step is not None:  # a trimmed loop: up to its end
                step = self.job.tempo / self.job.out_rate
                tail = seg.origin + self.end_step * step - frames[prev_idx].pts
            wrap, cut = self._loop_frame(kept, thumbs[prev_idx]) if self.opts.loop else (None, False)
            if wrap is not None:
                frames[wrap.index] = wrap
            self._render_groups(self.plan.finish(tail, None if wrap is None else wrap.index),
                                frames, cut)

    def _loop_frame(self, index: int, last_thumb: np.ndarray) -> tuple[Frame | None, bool]:
        """--loop: the clip's first frame, to interpolate the last one towards it; and whether
        last -> first is a scene cut (not a seamless loop: then the last frame is held)."""
        frames = read_frames(self.info, start=self.job.segment.origin)  # --start: the part's
        first = next(frames, None)
        frames.close()
        if first is None:
            return None, False
        cut = self.scenes.is_cut(last_thumb, thumbnail(first.image))
        if cut:
            self.stats.scene_cuts += 1
        return Frame(first.image, first.pts, index), cut

    def run(self) -> SegmentStats:
        job, o = self.job, self.opts
        t0 = time.monotonic()
        width = self.info.width * (2 if o.montage else 1)
        self.writer = VideoWriter(
            job.out_path, width, self.info.height, job.out_rate, self.info,
            lossless_options(self.info.has_alpha) if job.lossless else encode_options(o),
            alpha=self.info.has_alpha,
            high_bit_depth=self.info.bit_depth > 8 and not job.lossless,
        )
        self.frames_q: queue.Queue = queue.Queue(_QUEUE)
        self.out_q: queue.Queue = queue.Queue(_QUEUE)
        self.decoder = _Stage("ff-decode", self._decode)
        self.encoder = _Stage("ff-encode", self._encode)
        done = False
        try:
            self.decoder.start()
            self.encoder.start()
            with _stop_on_cancel(self.cancel):
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
    path = _stats_file(segment_file)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(stats)))
    os.replace(tmp, path)


def read_stats(segment_file: Path, index: int) -> SegmentStats:
    try:
        return SegmentStats(**json.loads(_stats_file(segment_file).read_text()))
    except (OSError, ValueError, TypeError):
        return SegmentStats(index)
