"""Worker threads that run queued jobs through the pipeline, one at a time per worker.

Decisions
---------
* ``workers`` threads (default 1) pull the oldest queued job from the store with an atomic claim;
  with one device, one job at a time is what keeps a GPU or the CPU's cores fully used without
  jobs fighting for memory.
* Models are loaded once per (model, scale) and handed to the pipeline as ``interpolator=``; the
  few most recent stay loaded, so a queue of jobs with the same model never reloads weights.
* Cancel is a ``threading.Event`` per job, created on first use by either side, so a cancel that
  races a claim is never lost. Every stage of a job sees it within about a second: the preview
  cut checks it per frame, a model load is waited for with the event in view (the load goes on
  into the pool, the job does not), and the pipeline checks it between frames and between lots
  of model output (render.py). A cancelled or failed job's work folder is removed: the server
  never resumes, so kept segments would only fill the cache. Stopping the server cancels running jobs and records them as
  ``interrupted`` (re-runnable), the same state a crash leaves after :meth:`JobStore.recover`.
* Live progress goes to the store at most every ``PROGRESS_EVERY`` seconds and bumps a version
  counter in :class:`Changes`; the SSE endpoints poll that counter (cheap, no cross-thread
  asyncio plumbing) and read the job from the store when it moved.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import shutil
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

from ..errors import CancelledError, FluidFramesError
from ..options import ModelConfig
from .config import ServerConfig
from .files import Layout
from .store import Job, JobStore

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.3  # seconds between progress writes per job
MODELS_KEPT = 2
RATE_WINDOW = 5.0  # seconds of recent progress the shown speed and ETA are based on


def _rate(window: deque, p) -> tuple[float, float | None]:
    """Recent output speed and the ETA it implies.

    The pipeline's own ``fps`` is frames since the start over time since the start, which the
    first (held, instant) frames inflate: a 1 fps job would show 40 fps and a 1 s ETA at first.
    Until two samples a moment apart exist, no ETA is claimed.
    """
    (t0, f0), (t1, f1) = window[0], window[-1]
    if t1 - t0 < 0.5 or f1 <= f0:
        return (p.fps if p.elapsed > 2 else 0.0), None
    fps = (f1 - f0) / (t1 - t0)
    eta = (p.frames_total - p.frames_out) / fps if p.frames_total else None
    return fps, (max(0.0, eta) if eta is not None else None)


class Changes:
    """Monotonic change counters: one per job and one for the whole list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, int] = {}
        self.total = 0

    def bump(self, job_id: str) -> None:
        with self._lock:
            self._jobs[job_id] = self._jobs.get(job_id, 0) + 1
            self.total += 1

    def of(self, job_id: str) -> int:
        with self._lock:
            return self._jobs.get(job_id, 0)


class ModelPool:
    """Loaded interpolators, reused across jobs (least recently used dropped).

    Keyed by the whole :class:`~fluidframes.options.ModelConfig`: the server's own settings
    (device, threads, a served model file) with what the job chose (model, scale, precision).
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._models: OrderedDict[ModelConfig, object] = OrderedDict()

    def config_for(self, job_options: dict) -> ModelConfig:
        chosen = {k: v for k, v in job_options.items() if k in ModelConfig.specs()}
        return dataclasses.replace(self.config.model, **chosen).validated()

    def get(self, model: ModelConfig):
        from ..engine import load_interpolator

        with self._lock:
            if model in self._models:
                self._models.move_to_end(model)
                return self._models[model]
            log.info("loading model %s (scale %g) on %s", model.name, model.scale, model.device)
            it = self._models[model] = load_interpolator(model)
            while len(self._models) > MODELS_KEPT:
                self._models.popitem(last=False)
            return it

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return [f"{m.name}@{m.scale:g}" for m in self._models]


class Runner:
    def __init__(self, store: JobStore, layout: Layout, config: ServerConfig,
                 changes: Changes) -> None:
        self.store, self.layout, self.config, self.changes = store, layout, config, changes
        self.models = ModelPool(config)
        self._events: dict[str, threading.Event] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        for n in range(self.config.workers):
            t = threading.Thread(target=self._loop, name=f"ff-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; cancel running ones (they become ``interrupted``)."""
        self._stop.set()
        with self._lock:
            running = list(self._running)
        for job_id in running:
            self._event(job_id).set()
        self.notify()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _event(self, job_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(job_id, threading.Event())

    def cancel(self, job_id: str) -> None:
        self._event(job_id).set()

    def reset(self, job_id: str) -> None:
        """Forget a stale cancel flag before a job is queued again."""
        with self._lock:
            self._events.pop(job_id, None)

    def is_running(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._running

    def wait_idle(self, job_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.is_running(job_id):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                with self._wake:
                    self._wake.wait(1.0)
                continue
            with self._lock:
                self._running.add(job.id)
            try:
                self.changes.bump(job.id)
                self._run(job)
            except Exception:
                log.exception("job %s: unexpected failure in the worker", job.id)
            finally:
                with self._lock:
                    self._running.discard(job.id)
                    self._events.pop(job.id, None)
                self.changes.bump(job.id)

    def _load_model(self, model: ModelConfig, cancel: threading.Event):
        """The model from the pool, waiting with the cancel event in view."""
        box: dict = {}

        def load() -> None:
            try:
                box["model"] = self.models.get(model)
            except BaseException as exc:  # noqa: BLE001 - handed to the job's thread
                box["error"] = exc

        t = threading.Thread(target=load, name="ff-model-load", daemon=True)
        t.start()
        while t.is_alive():
            t.join(0.05)
            if cancel.is_set():
                raise CancelledError("cancelled while the model loaded")
        if "error" in box:
            raise box["error"]
        return box["model"]

    def _source(self, job: Job, cancel: threading.Event) -> Path:
        """The file the pipeline reads: the upload, or a preview's clip (cut on first run)."""
        from .clip import cut

        job_dir = self.layout.job_dir(job.id)
        if job.kind != "preview":
            return job_dir / job.input_file
        clip = job_dir / job.clip["file"]
        if not clip.is_file():
            cut(job_dir / job.input_file, clip, job.clip["start"], job.clip["seconds"], cancel)
        return clip

    def _run(self, job: Job) -> None:
        from ..pipeline import interpolate_video
        from ..report import Progress
        from ..segments import work_path

        cancel = self._event(job.id)
        out_dir = self.layout.output_dir(job.id)
        self.layout.clear_output(job.id)
        dst = out_dir / f"result.{job.format}"
        last = [0.0]
        window: deque[tuple[float, int]] = deque()
        over: list[str] = []
        limit = self.config.max_output_frames

        def progress(p: Progress) -> None:
            if p.frames_out > limit and not over:  # a header that under-stated the length
                over.append(f"stopped at {limit:,} output frames, this server's limit per job "
                            "(the file is longer than its header said)")
                cancel.set()
            now = time.monotonic()
            window.append((now, p.frames_out))
            while len(window) > 2 and now - window[0][0] > RATE_WINDOW:
                window.popleft()
            if now - last[0] < PROGRESS_EVERY and p.frames_out != p.frames_total:
                return
            last[0] = now
            fps, eta = _rate(window, p)
            self.store.update(job.id, frames_out=p.frames_out, frames_total=p.frames_total,
                              elapsed=round(p.elapsed, 3),
                              fps=round(fps, 3), eta=None if eta is None else round(eta, 2))
            self.changes.bump(job.id)

        t0 = time.monotonic()
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            model = self.models.config_for(job.options)
            video = {k: v for k, v in job.options.items() if k not in ModelConfig.specs()}
            src = self._source(job, cancel)
            interp = self._load_model(model, cancel)
            if cancel.is_set():
                raise CancelledError("cancelled")
            summary = interpolate_video(src, dst, progress=progress, cancel=cancel,
                                        interpolator=interp, overwrite=True,
                                        work_root=str(self.layout.work),
                                        **model.to_kwargs(), **video)
        except CancelledError:
            shutil.rmtree(work_path(dst, self.layout.work), ignore_errors=True)
            if over:
                self._finish(job, status="failed", error=over[0])
                return
            status = "interrupted" if self._stop.is_set() else "cancelled"
            msg = ("the server stopped while this job was running; re-run it"
                   if status == "interrupted" else "cancelled; no output was written")
            self._finish(job, status=status, error=msg)
            return
        except FluidFramesError as exc:
            shutil.rmtree(work_path(dst, self.layout.work), ignore_errors=True)
            self._finish(job, status="failed", error=str(exc))
            return
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                msg = f"the disk is full ({exc.filename or self.layout.root}): free space and re-run"
            else:
                msg = f"file error: {exc.strerror or exc}"
            self._finish(job, status="failed", error=msg)
            return
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._finish(job, status="failed", error=f"internal error: {type(exc).__name__}: {exc}")
            return
        elapsed = time.monotonic() - t0
        rel = str(Path(dst).relative_to(self.layout.job_dir(job.id)))
        ok = self.store.update(
            job.id, expect=("running",), status="done", output_file=rel,
            output_size=dst.stat().st_size, summary=summary.to_dict(), finished=time.time(),
            frames_out=summary.frames_out, frames_total=summary.frames_out,
            frames_in=summary.frames_in, elapsed=round(elapsed, 3),
            fps=round(summary.speed_fps, 3), eta=0.0, error=None,
        )
        if not ok:  # deleted while running
            self.layout.remove_job(job.id)
        log.info("job %s done: %s", job.id, summary.line())

    def _finish(self, job: Job, *, status: str, error: str) -> None:
        self.layout.clear_output(job.id)
        ok = self.store.update(job.id, expect=("running",), status=status, error=error,
                               finished=time.time(), eta=None)
        if not ok and self.store.get(job.id) is None:  # deleted while it ran
            self.layout.remove_job(job.id)
        log.info("job %s %s: %s", job.id, status, error)
