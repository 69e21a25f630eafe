"""Batch mode: several inputs (or a folder of videos) -> one output per input.

Decisions:

* **What is a batch.** A folder of numbered *images* is one image-sequence input (as
  :func:`fluidframes.video.reader.probe` reads it); a folder of *videos* is a batch of its video
  files. Files named like our own outputs (``<stem>_2X_48fps.mp4``) are skipped when a folder is
  expanded, so re-running a batch on a folder does not interpolate its own results.
* **Sharing workers.** The batch makes one executor and every file's run uses it. With Ray,
  every file runs in its own thread on the same worker pool
  (:class:`fluidframes.executors.ray.RayExecutor`), so segments of different files interleave on
  the workers and one file's join + mux overlaps the next files' rendering. Without Ray, files
  run one after another in this process with one loaded model.
* **Failures stay per file.** A file that fails is reported and the others go on; the caller
  (the CLI) exits non-zero at the end. Cancelling (Ctrl-C) stops all of them; completed segments
  stay in each file's work folder for ``--resume``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import CancelledError, FluidFramesError, InputError
from .naming import is_our_output
from .options import RunOptions
from .report import Progress
from .video.reader import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".gif", ".ts", ".mts", ".m2ts", ".flv",
    ".wmv", ".mpg", ".mpeg", ".ogv", ".y4m", ".3gp",
})


def _is_image_folder(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
               for p in folder.iterdir())


def expand_inputs(paths: list[str | Path]) -> tuple[list[Path], bool]:
    """The inputs named on the command line, folders of videos expanded; and whether it is a batch."""
    out: list[Path] = []
    batch = len(paths) > 1
    for raw in paths:
        p = Path(raw)
        if not p.is_dir() or _is_image_folder(p):
            out.append(p)  # a file, a missing path (the run reports it), or an image sequence
            continue
        videos = sorted(f for f in p.iterdir()
                        if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS
                        and not f.name.startswith(".") and not is_our_output(f))
        if not videos:
            raise InputError(f"{p}: no videos and no numbered images in this folder")
        log.info("batch: %d video(s) in %s", len(videos), p)
        out.extend(videos)
        batch = True
    return out, batch


@dataclass
class BatchItem:
    input: Path
    output: Path | None
    summary: object = None  # RunSummary when it worked
    error: FluidFramesError | None = None

    @property
    def ok(self) -> bool:
        return (self.error is None and self.summary is not None
                and self.summary.in_sync is not False)

    def to_dict(self) -> dict:
        return {"input": str(self.input), "output": str(self.output) if self.output else None,
                "ok": self.ok, "error": str(self.error) if self.error else (
                    "audio and video are out of sync" if self.summary is not None
                    and self.summary.in_sync is False else None),
                "summary": self.summary.to_dict() if self.summary is not None else None}


def plan_outputs(inputs: list[Path], out_dir: Path | None,
                 options: RunOptions) -> list[BatchItem]:
    """One item per input with its output path (the run's own naming, in ``out_dir`` when
    given); an input that cannot be planned carries its error and is not run."""
    from .pipeline import plan_run

    items, seen = [], {}
    for src in inputs:
        item = BatchItem(src, None)
        try:
            item.output = plan_run(src, None, options, out_dir=out_dir).dst
            if item.output in seen:
                raise InputError(f"{src} and {seen[item.output]} would both write "
                                 f"{item.output}; rename one")
            seen[item.output] = src
        except FluidFramesError as exc:
            item.error = exc
        items.append(item)
    return items


def _combined(progress: Callable[[Progress], None] | None):
    """A per-file progress callback factory feeding one Progress for the whole batch."""
    lock = threading.Lock()
    per_file: dict[int, Progress] = {}

    def for_file(i: int) -> Callable[[Progress], None]:
        def cb(p: Progress) -> None:
            if progress is None:
                return
            with lock:
                per_file[i] = p
                ps = list(per_file.values())
                totals = [q.frames_total for q in ps]
                total = sum(totals) if all(t is not None for t in totals) else None
                progress(Progress.at(sum(q.frames_out for q in ps), total,
                                     max(q.elapsed for q in ps)))
        return cb

    return for_file


def run_batch(items: list[BatchItem], options: RunOptions, *,
              progress: Callable[[Progress], None] | None = None,
              cancel: threading.Event | None = None) -> list[BatchItem]:
    """Run every item (those not already failed in planning); fill in summary or error.

    One executor serves the whole batch (one loaded model, or one Ray pool), made here in the
    main thread (Ray installs its signal handlers only there). ``progress`` gets one
    :class:`~fluidframes.report.Progress` for the whole batch.
    """
    from .executors import executor_for
    from .pipeline import run

    cancel = cancel or threading.Event()
    todo = [it for it in items if it.error is None]
    if not todo:
        return items
    executor = executor_for(options)
    file_progress = _combined(progress)

    def one(i: int, item: BatchItem) -> None:
        if cancel.is_set():
            item.error = CancelledError("cancelled before it started")
            return
        try:
            item.summary = run(item.input, item.output, options, progress=file_progress(i),
                               cancel=cancel, executor=executor)
            item.output = Path(item.summary.output)
            log.info("batch: done %s", item.input)
        except CancelledError as exc:  # Ctrl-C inside a sequential run: stop the batch
            item.error = exc
            cancel.set()
        except FluidFramesError as exc:
            item.error = exc
            log.warning("batch: %s failed: %s", item.input, exc)
        except Exception as exc:
            log.exception("batch: %s failed", item.input)
            item.error = FluidFramesError(f"internal error: {type(exc).__name__}: {exc}")

    # with Ray, a few files in flight keep every worker busy across file boundaries
    parallel = max(2, 2 * (options.video.workers or 2)) if options.video.distributed else 1
    try:
        if parallel == 1:
            for i, item in enumerate(todo):
                one(i, item)
        else:
            with ThreadPoolExecutor(max_workers=min(parallel, len(todo)),
                                    thread_name_prefix="ff-batch") as pool:
                futures = [pool.submit(one, i, it) for i, it in enumerate(todo)]
                try:
                    for f in futures:
                        _wait(f)
                except KeyboardInterrupt:
                    cancel.set()  # every running file stops at its next frame
                    for f in futures:
                        f.cancel()
                    raise
    except KeyboardInterrupt:
        cancel.set()
        for it in todo:
            if it.summary is None and it.error is None:
                it.error = CancelledError("interrupted")
        raise
    return items


def _wait(f) -> None:
    """Wait on a future in short steps so Ctrl-C reaches the main thread promptly."""
    while True:
        try:
            f.result(timeout=0.2)
            return
        except TimeoutError:
            continue


__all__ = ["VIDEO_EXTENSIONS", "BatchItem", "expand_inputs", "plan_outputs", "run_batch"]
