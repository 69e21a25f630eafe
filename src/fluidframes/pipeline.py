"""A whole run: plan -> execute -> join -> finalize.

* **plan** (:func:`plan_run`): everything that can fail on bad input fails here, before any
  decoding: probe the input, work out the output rate, name and kind, check the destination
  and the encoder choices, bound the output length;
* **execute**: cut the clip into keyframe-aligned segments (:mod:`.segments`), skip the ones a
  resumed run already has, and hand the rest to an executor (:mod:`.executors`), which runs
  :func:`fluidframes.render.render_segment` on each;
* **join** the segment files by packet copy (:mod:`.video.concat`);
* **finalize**: mux audio, subtitles and chapters, rename into place, read the file back and
  report (:mod:`.video.mux`, :mod:`.report`).

The CLI, the web app, batches and the bench all call :func:`interpolate_video` (keyword
options) or :func:`run` (a validated :class:`~fluidframes.options.RunOptions`).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from . import _allocator
from .errors import CancelledError, InputError, MediaInputError
from .executors import Executor, executor_for
from .naming import default_output, window_tag
from .options import RunOptions, check_output_frames, fmt_time
from .render import SegmentJob, SegmentStats, encode_options, read_stats, timing_plan
from .report import Progress, RunSummary, fmt_rate, sync_error
from .segments import manifest_key, plan_segments, work_dir_for
from .timing import output_rate
from .scenes import SceneDetector
from .video import concat, gif, mux
from .video.reader import VideoInfo, probe
from .video.writer import output_kind, plan_encoding

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """What a run will make, decided before any work starts."""

    src: Path
    dst: Path
    info: VideoInfo
    out_rate: Fraction
    tempo: Fraction
    kind: str  # output_kind(): mp4, mkv, mov, webm, gif or png-folder
    total: int | None  # expected output frames (None: unknown length)
    warnings: list[str] = field(default_factory=list)
    #: --start/--duration: (start, end) in seconds from the input's first frame (end None: to
    #: the input's end); None: the whole input
    window: tuple[Fraction, Fraction | None] | None = None


def plan_run(src: str | Path, dst: str | Path | None, options: RunOptions, *,
             out_dir: Path | None = None) -> RunPlan:
    """Probe ``src`` and decide the output; raises InputError for anything a user got wrong.

    ``dst`` None: the default name (:func:`fluidframes.naming.default_output`), beside the input
    or in ``out_dir``.
    """
    o = options.video
    src = Path(src)
    if not src.exists():
        raise MediaInputError(f"input not found: {src}")
    info = probe(src, input_fps=o.input_fps, allow_partial=o.allow_partial)
    warnings = list(info.notes)  # VFR rate used, damage kept with allow_partial
    if info.is_image_sequence and o.input_fps is None:
        warnings.append(f"image folder without --input-fps: assuming {fmt_rate(info.rate)} fps")
        log.info(warnings[-1])  # shown once, with the summary (a refusal stays one line)
    if info.frame_count is not None and info.frame_count < 2:
        raise MediaInputError(f"{src} has {info.frame_count} frame(s): need at least two")
    spec = o.rate_spec()
    out_rate, tempo = output_rate(info.rate, spec)
    window, length = _window(src, info, o), info.duration
    if window is not None and info.duration is not None:
        length = (min(window[1], info.duration) if window[1] is not None
                  else info.duration) - window[0]
    def default_name(rate: Fraction) -> Path:
        # frames per source frame (the slow-down factor with --slowmo)
        factor = Fraction(spec.factor) if o.slowmo else rate / (info.rate * tempo)
        named = None if window is None else (
            window[0], window[0] + length if length is not None else window[1])
        name = default_output(src, image_sequence=info.is_image_sequence, out_rate=rate,
                              factor=factor, slowmo=o.slowmo, png=o.png, ext=o.ext,
                              window=named)
        return Path(out_dir) / name.name if out_dir is not None else name

    defaulted = dst is None
    dst = default_name(out_rate) if defaulted else Path(dst)
    kind = output_kind(dst, o.png)
    if kind == "gif" and out_rate > o.gif_fps_max:
        warnings.append(f"GIF at {fmt_rate(o.gif_fps_max)} fps, not {fmt_rate(out_rate)}: "
                        "browsers play faster GIFs slower (raise --gif-fps-max up to 100)")
        out_rate = o.gif_fps_max
        dst = default_name(out_rate) if defaulted else dst
    if o.ext and not o.png and dst.suffix.lower() != f".{o.ext}":
        raise InputError(f"ext {o.ext} disagrees with the output name {dst.name}")
    _check_destination(src, dst, kind, o.overwrite)
    warnings += plan_encoding(dst, info.width * (2 if o.montage else 1), info.height, info,
                              encode_options(o), info.has_alpha, info.bit_depth > 8).notes
    total = timing_plan(out_rate, tempo, info.rate).count_for(length) if length else None
    check_output_frames(total)
    return RunPlan(src, dst, info, out_rate, tempo, kind, total, warnings, window)


def _window(src: Path, info: VideoInfo, o) -> tuple[Fraction, Fraction | None] | None:
    """--start/--duration as (start, end) seconds, checked against the probed length (the
    packet scan in :func:`fluidframes.segments.plan_segments` checks it exactly)."""
    if not o.trimmed:
        return None
    start = o.start or Fraction(0)
    if info.duration is not None and start >= info.duration:
        raise InputError(f"start {fmt_time(start)} s is past the end of {src.name} "
                         f"({fmt_time(info.duration)} s)")
    return start, (start + o.duration if o.duration is not None else None)


def _check_destination(src: Path, dst: Path, kind: str, overwrite: bool) -> None:
    if dst.resolve() == src.resolve():
        raise InputError(f"output {dst} is the input; choose another name")
    if dst.exists() and not overwrite:
        raise InputError(f"{dst} exists; use --overwrite to replace it")
    if dst.exists() and dst.is_dir() != (kind == "png-folder"):
        raise InputError(f"{dst} exists and is a {'folder' if dst.is_dir() else 'file'}")
    folder = dst.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {dst}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {dst}: no permission to write in {folder}")
    probe_writable(folder, dst)


def probe_writable(folder: Path, dst: Path) -> None:
    """Create and remove a file in ``folder``: the only reliable test (read-only mounts,
    /proc, quotas answer os.access with yes and fail the real write)."""
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=".fluidframes-probe-", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write {dst}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)


def interpolate_video(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    interpolator=None,
    executor: Executor | None = None,
    **options,
) -> RunSummary:
    """Interpolate a video (or a folder of numbered images) and write the result.

    Options are the fields of :class:`~fluidframes.options.ModelConfig` and
    :class:`~fluidframes.options.VideoOptions` (``multi=4``, ``fps=60``, ``slowmo=True``,
    ``model="rife-4.6"``, ...), validated before anything else happens. ``interpolator`` lets a
    long-lived caller (the web app) reuse a loaded model; ``executor`` chooses who renders the
    segments (default: :func:`fluidframes.executors.executor_for`). Returns a
    :class:`~fluidframes.report.RunSummary`; raises a :class:`FluidFramesError` subclass on
    failure. Nothing is ever left under ``dst`` unless the run completed; completed segments of
    an interrupted run stay in the work folder for ``resume=True``.
    """
    return run(src, dst, RunOptions.from_kwargs(**options), progress=progress, cancel=cancel,
               interpolator=interpolator, executor=executor)


def run(src: str | Path, dst: str | Path | None, options: RunOptions, *,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None, interpolator=None,
        executor: Executor | None = None) -> RunSummary:
    """:func:`interpolate_video` with validated options."""
    try:
        plan = plan_run(src, dst, options)
        if executor is None:
            executor = executor_for(options, interpolator)
        return _Run(plan, options, executor, progress, cancel or threading.Event()).run()
    finally:
        _allocator.release_free_memory()  # a finished job hands its working set back


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


class _Run:
    def __init__(self, plan: RunPlan, options: RunOptions, executor: Executor, progress,
                 cancel: threading.Event) -> None:
        self.plan, self.opts, self.executor = plan, options, executor
        self.progress_cb = progress
        self.cancel = cancel
        self._made_dirs: list[Path] = []
        self.gif_report: gif.GifReport | None = None

    def _jobs(self) -> list[SegmentJob]:
        p, o = self.plan, self.opts.video
        single = o.segment_seconds <= 0
        self.segments = plan_segments(p.info, timing_plan(p.out_rate, p.tempo, p.info.rate),
                                      o.segment_seconds, single=single, window=p.window)
        # a GIF is made from lossless segments in two passes (video/gif.py)
        ext = {"png-folder": "", "gif": ".mkv"}.get(p.kind, p.dst.suffix.lower())
        window = None if p.window is None else [str(t) for t in p.window]
        key = manifest_key(p.info, {**self.opts.output_key(), "out_rate": str(p.out_rate),
                                    "window": str(window)}, self.segments)
        self.work = work_dir_for(p.dst, key, ext, o.resume,
                                 base=Path(o.work_root) if o.work_root else None)
        return [SegmentJob(p.info, o, p.out_rate, p.tempo, seg, self.work.segment_file(seg),
                           seg.index == len(self.segments) - 1, self.executor.model_label,
                           lossless=p.kind == "gif")
                for seg in self.segments]

    def _progress(self, t0: float, base: int, todo: list[SegmentJob]):
        done_frames = {j.segment.index: 0 for j in todo}
        last = [0.0]

        def on_progress(index: int, frames: int) -> None:
            done_frames[index] = frames
            now = time.monotonic()
            if self.progress_cb and now - last[0] > 0.2:
                last[0] = now
                self.progress_cb(Progress.at(base + sum(done_frames.values()), self.plan.total,
                                             now - t0))
        return on_progress

    def run(self) -> RunSummary:
        t0 = time.monotonic()
        jobs = self._jobs()
        todo = [j for j in jobs if not self.work.done(j.segment)]
        resumed = [j for j in jobs if j not in todo]
        base = sum((j.segment.end_step or 0) - j.segment.first_step for j in resumed)
        try:
            stats = self.executor.run(todo, self._progress(t0, base, todo), self.cancel)
            stats = [read_stats(j.out_path, j.segment.index) for j in resumed] + stats
            if self.cancel.is_set():
                raise CancelledError("cancelled")
            video_tmp, frames_out = self._join()
            report = self._finalize(video_tmp)
        except KeyboardInterrupt:
            raise CancelledError(self._stopped_message("interrupted")) from None
        except CancelledError:  # the cancel event (the CLI's says why: "interrupted")
            raise CancelledError(self._stopped_message(
                getattr(self.cancel, "reason", "cancelled"))) from None
        except BaseException:
            if not self._completed_segments():
                self.work.remove()
            for d in reversed(self._made_dirs):
                try:
                    d.rmdir()  # only if still empty
                except OSError:
                    pass
            raise
        finally:
            self.work.close()  # a kept folder (for --resume) is let go: this run is over
        self.work.remove()
        if self.progress_cb:
            self.progress_cb(Progress.at(frames_out, frames_out, time.monotonic() - t0))
        return self._summary(report, stats, frames_out, time.monotonic() - t0, len(resumed))

    def _join(self) -> tuple[Path, int]:
        p = self.plan
        parts = [self.work.segment_file(s) for s in self.segments]
        self._made_dirs = _make_parents(p.dst.parent)
        if p.kind == "gif":
            o = self.opts.video
            settings = gif.GifSettings(
                o.gif_palette, o.gif_dither, o.gif_width,
                o.scene_threshold or SceneDetector.DEFAULT_THRESHOLD, p.info.has_alpha)
            tmp, self.gif_report = gif.write_gif(parts, p.out_rate, p.dst, settings, self.cancel)
            return tmp, self.gif_report.frames
        return concat.join(parts, [s.first_step for s in self.segments], p.out_rate, p.dst,
                           p.kind, p.info.rotation, cancel=self.cancel)

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
        o, tempo = self.opts.video, self.plan.tempo
        audio = "drop" if (o.slowmo and o.audio == "drop") else (
            "stretch" if tempo != 1 else "copy")
        offset, length = self._window()
        try:
            return mux.finalize(video_tmp, self.plan.dst, self.plan.info, tempo=tempo,
                                audio=audio, keep_subtitles=o.keep_subtitles,
                                time_offset=offset, duration=length, cancel=self.cancel)
        except BaseException:
            if video_tmp.is_dir():
                import shutil

                shutil.rmtree(video_tmp, ignore_errors=True)
            else:
                video_tmp.unlink(missing_ok=True)
            raise

    def _gif_summary(self) -> dict | None:
        if self.gif_report is None:
            return None
        self.gif_report.bytes = self.plan.dst.stat().st_size
        return asdict(self.gif_report)

    def _window(self) -> tuple[Fraction, Fraction | None]:
        """A trimmed run's part as (output t=0 in source seconds after the video's start,
        length or None: to the end); (0, None) for a whole input."""
        if self.plan.window is None:
            return Fraction(0), None
        start, end = self.plan.window
        origin = self.segments[0].origin  # the input's first frame + start
        return origin, (None if end is None else end - start)

    def _summary(self, report, stats: list[SegmentStats], frames_out: int, secs: float,
                 resumed: int) -> RunSummary:
        p = self.plan
        frame_out = 1 / p.out_rate
        out_dur = float(frames_out * frame_out)
        in_dur = float(p.info.duration) if p.info.duration else out_dur * float(p.tempo)
        window = None
        if p.window is not None:
            window = self._window()
            in_dur = min(in_dur - float(p.window[0]),
                         float(window[1]) if window[1] is not None else math.inf)
        sync_err = in_sync = None
        audio = {}
        if report is not None:
            audio = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(report).items()}
            if report.video_duration is not None:
                out_dur = float(report.video_duration)
            sync_err = sync_error(report, p.info, p.tempo, window)
            if sync_err is not None:
                in_sync = abs(sync_err) <= float(frame_out) + 1e-6

        def total(name: str) -> int:
            return sum(getattr(s, name) for s in stats)

        warnings = list(p.warnings)
        if total("skipped") and p.info.damage is None:
            warnings.append(f"partial input: {total('skipped')} damaged part(s) skipped")
        return RunSummary(
            input=str(p.src), output=str(p.dst), model=self.executor.model_label,
            device=self.executor.device, threads=self.executor.threads,
            precision=self.executor.precision,
            frames_in=total("frames_in"), frames_out=frames_out,
            interpolated=total("interpolated"), held=total("held"),
            scene_cuts=total("scene_cuts"), duplicates_dropped=total("duplicates"),
            skipped_packets=total("skipped"), source_rate=str(p.info.rate),
            output_rate=str(p.out_rate), tempo=str(p.tempo), input_duration=in_dur,
            output_duration=out_dur, expected_duration=in_dur / float(p.tempo), seconds=secs,
            speed_fps=frames_out / secs if secs > 0 else 0.0, audio=audio,
            av_sync_error=sync_err, in_sync=in_sync,
            subtitles_dropped=list(getattr(report, "subtitles_dropped", []) or []),
            segments=len(self.segments), segments_resumed=resumed, warnings=warnings,
            vfr=p.info.vfr, partial=p.info.damage is not None or total("skipped") > 0,
            gif=self._gif_summary(),
            part=None if p.window is None else window_tag(
                p.window[0], p.window[0] + Fraction(in_dur).limit_denominator(1000)),
        )


__all__ = ["RunPlan", "interpolate_video", "plan_run", "run"]
