"""Batch mode: several inputs (or a folder of videos) -> one output per input.

Decisions:

* **What is a batch.** A folder of numbered *images* is one image-sequence input (as
  :func:`fluidframes.video.reader.probe` reads it); a folder of *videos* is a batch of its video
  files. Files named like our own outputs (``<stem>_2X_48fps.mp4``) are skipped when a folder is
  expanded, so re-running a batch on a folder does not interpolate its own results.
* **Sharing workers.** With Ray, every file runs its ordinary pipeline run in its own thread;
  all of them get the same process-wide worker pool (:class:`fluidframes.distributed.RayExecutor`
  is shared per cluster and model), so segments of different files interleave on the workers and
  one file's join + mux overlaps the next files' rendering. Without Ray, files run one after
  another in this process with one loaded model.
* **Failures stay per file.** A file that fails is reported and the others go on; the caller
  (the CLI) exits non-zero at the end. Cancelling (Ctrl-C) stops all of them; completed segments
  stay in each file's work folder for ``--resume``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import CancelledError, FluidFramesError, InputError
from .video.reader import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".gif", ".ts", ".mts", ".m2ts", ".flv",
    ".wmv", ".mpg", ".mpeg", ".ogv", ".y4m", ".3gp",
})
_OUR_OUTPUT = re.compile(r"_[\d.]+X(_slowmo)?_[\d.]+fps$")


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
                        and not f.name.startswith(".") and not _OUR_OUTPUT.search(f.stem))
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
        return self.error is None and self.summary is not None

    def to_dict(self) -> dict:
        return {"input": str(self.input), "output": str(self.output) if self.output else None,
                "ok": self.ok, "error": str(self.error) if self.error else None,
                "summary": self.summary.to_dict() if self.summary is not None else None}


def _output_in(folder: Path, src: Path, options: dict) -> Path:
    """``folder`` / the default output name of ``src`` (same name the single-file run picks)."""
    from .pipeline import Options, default_output
    from .timing import output_rate, parse_rate
    from .video.reader import probe

    o = Options(**options)
    input_fps = parse_rate(str(o.input_fps)) if o.input_fps is not None else None
    info = probe(src, input_fps=input_fps)
    spec = o.rate_spec()
    out_rate, tempo = output_rate(info.rate, spec)
    factor = Fraction(spec.factor) if o.slowmo else out_rate / info.rate / tempo
    return folder / default_output(src, info, out_rate, factor, o.slowmo, o.png).name


def plan_outputs(inputs: list[Path], out_dir: Path | None, options: dict) -> list[BatchItem]:
    """One item per input with its output path (None: the run's default beside the input)."""
    items, seen = [], {}
    for src in inputs:
        item = BatchItem(src, None)
        try:
            if out_dir is not None:
                item.output = _output_in(out_dir, src, options)
                if item.output in seen:
                    raise InputError(f"{src} and {seen[item.output]} would both write "
                                     f"{item.output}; rename one")
                seen[item.output] = src
        except FluidFramesError as exc:
            item.error = exc
        items.append(item)
    return items


def run_batch(items: list[BatchItem], options: dict, *,
              progress: Callable[[object], None] | None = None,
              cancel: threading.Event | None = None) -> list[BatchItem]:
    """Run every item (those not already failed in planning); fill in summary or error.

    ``progress`` gets one :class:`fluidframes.pipeline.Progress` for the whole batch.
    """
    from .pipeline import Progress, interpolate_video

    cancel = cancel or threading.Event()
    todo = [it for it in items if it.error is None]
    lock = threading.Lock()
    per_file: dict[int, object] = {}

    def file_progress(i: int) -> Callable[[object], None]:
        def cb(p) -> None:
            if progress is None:
                return
            with lock:
                per_file[i] = p
                ps = list(per_file.values())
                totals = [q.frames_total for q in ps]
                total = sum(totals) if all(t is not None for t in totals) else None
                out = sum(q.frames_out for q in ps)
                el = max(q.elapsed for q in ps)
                progress(Progress(out, total, sum(q.frames_in for q in ps), el,
                                  out / el if el > 0 else 0.0))
        return cb

    interp = None
    distributed = bool(options.get("workers") or options.get("ray_address"))
    if not distributed and todo:
        from .engine import Interpolator
        from .models.registry import DEFAULT_MODEL

        interp = Interpolator(model=options.get("model") or DEFAULT_MODEL,
                              model_file=options.get("model_file"),
                              device=options.get("device", "auto"),
                              precision=options.get("precision", "auto"),
                              scale=options.get("scale", 1.0),
                              backend=options.get("backend") or "auto")

    if distributed and todo:
        # start Ray and the shared worker pool here, in the main thread (Ray installs its
        # signal handlers only there); every file's run then finds the pool ready
        from .distributed import RayExecutor
        from .pipeline import Options

        known = {k: v for k, v in options.items() if k in Options.__dataclass_fields__}
        RayExecutor(workers=options.get("workers"), address=options.get("ray_address"),
                    opts=Options(**known))

    def one(i: int, item: BatchItem) -> None:
        if cancel.is_set():
            item.error = CancelledError("cancelled before it started")
            return
        try:
            item.summary = interpolate_video(item.input, item.output, progress=file_progress(i),
                                             cancel=cancel, interpolator=interp, **options)
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
    parallel = 1
    if distributed:
        parallel = max(2, 2 * int(options.get("workers") or 2))
    try:
        if parallel == 1:
            for i, item in enumerate(todo):
                one(i, item)
        else:
            with ThreadPoolExecutor(max_workers=min(parallel, len(todo) or 1),
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
