"""Render segments on Ray workers: one actor per worker holds the model, segments are tasks.

The pipeline cuts every run into segments (:mod:`fluidframes.segments`) and hands the list of
:class:`~fluidframes.render.SegmentJob` to an executor. This module is the Ray executor; it is
imported only when a user asks for ``--workers``/``--ray-address``, so users without Ray never
import it (:func:`fluidframes.executors.executor_for` turns the ImportError into an InputError
naming the install command).

Design decisions:

* **One actor per worker, the model loaded once.** ``_SegmentWorker.__init__`` builds the
  :class:`~fluidframes.engine.Interpolator` from the run's
  :class:`~fluidframes.options.ModelConfig`; each segment is one method call on an actor. The
  actor claims one GPU when the cluster has any (``num_gpus=1``), else ``cpus_per_worker`` CPUs;
  torch's thread count is the user's ``threads`` when given, else the CPUs the actor holds, so
  N workers do not oversubscribe a box.
* **A pull dispatcher, not round-robin.** Segments differ in cost (cuts, motion), so a driver
  thread keeps exactly one segment in flight per idle actor and hands out the next one when an
  actor finishes. Several runs (a batch of files, each file's ``_Run`` in its own thread) can use
  the same pool at once: their segments interleave on the workers. Pools are shared per process
  by (cluster, workers, model settings), so ``RayExecutor(...)`` is cheap after the first call.
* **Faults.** A worker process that dies mid-segment is restarted by Ray (``max_restarts``) and
  the segment re-run (``max_task_retries``); the model is loaded again in the new process. Should
  Ray give up on an actor, the dispatcher replaces the actor and resubmits the segment (up to
  ``MAX_ATTEMPTS`` per segment). Re-running is safe: ``render_segment`` writes its file under a
  temporary name and renames it only when complete, so a killed attempt leaves no half file.
* **One progress stream.** Workers post ``(segment, frames)`` to a tiny board actor (fire and
  forget); the dispatcher polls it a few times a second and calls the run's ``on_progress``. The
  same board carries cancellation back: a cancelled run marks its segments there and each
  worker's watcher thread sets the renderer's cancel event.
* **Storage.** Workers write segment files straight into the run's work folder when they can
  see it (same machine, or a shared filesystem: the folder's ``manifest.json`` is visible);
  otherwise they render to a local temporary folder and ship the bytes back to the driver, which
  writes them atomically. The input must be readable by the workers at the same path.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

import ray
import ray.exceptions as rex

from ..errors import CancelledError, FluidFramesError, InputError, MediaError
from ..options import ModelConfig, VideoOptions, coerce
from ..render import SegmentStats, render_segment

log = logging.getLogger(__name__)

#: Times one segment is submitted by the dispatcher (on top of Ray's own task retries).
MAX_ATTEMPTS = 3
#: Ray-level restarts of a crashed worker process, and retries of the task it was running.
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3
_NAMESPACE = "fluidframes"
_POLL_S = 0.25  # progress/cancel poll period (driver and workers)
_READY_TIMEOUT_S = float(os.environ.get("FLUIDFRAMES_RAY_READY_TIMEOUT", "600"))


# ---- the remote side -----------------------------------------------------------------------------

@ray.remote(num_cpus=0, max_restarts=-1)
class _Board:
    """Progress and cancel flags shared by the driver and all workers (a few small dicts)."""

    def __init__(self) -> None:
        self.frames: dict[int, int] = {}
        self.cancelled: set[int] = set()

    def report(self, key: int, frames: int) -> None:
        self.frames[key] = frames

    def snapshot(self) -> dict[int, int]:
        return dict(self.frames)

    def cancel(self, keys: list[int]) -> None:
        self.cancelled.update(keys)

    def is_cancelled(self, key: int) -> bool:
        return key in self.cancelled

    def forget(self, keys: list[int]) -> None:
        for k in keys:
            self.frames.pop(k, None)
            self.cancelled.discard(k)


class _SegmentWorker:
    """A Ray actor (made remote in :func:`_worker_class`): holds one Interpolator."""

    def __init__(self, model: ModelConfig, threads: int, board: str, driver_node: str) -> None:
        # the board comes by name, not as a handle: constructor arguments must stay inline
        # (not in the object store) for Ray to be able to restart a killed worker
        self.board = ray.get_actor(board, namespace=_NAMESPACE)
        self.driver_node = driver_node
        self.init_error: BaseException | None = None
        self.interp = None
        try:
            from ..engine import load_interpolator

            self.interp = load_interpolator(
                dataclasses.replace(model, threads=model.threads or max(1, threads)))
        except FluidFramesError as exc:  # reported by ready(), with its user-facing message
            self.init_error = exc

    def ready(self) -> dict:
        if self.init_error is not None:
            raise self.init_error
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                "device": str(self.interp.device), "threads": self.interp.info.threads,
                "precision": self.interp.info.precision}

    def pid(self) -> int:
        return os.getpid()

    def render(self, job, key: int):
        """Render one segment; returns (stats, pid, file bytes or None when written in place)."""
        if self.init_error is not None:
            raise self.init_error
        if not Path(job.info.path).exists():
            raise InputError(f"worker on {os.uname().nodename} cannot read {job.info.path}: "
                             "inputs must be on storage every worker sees at the same path")
        cancel, done = threading.Event(), threading.Event()

        def watch() -> None:
            while not done.wait(_POLL_S):
                try:
                    if ray.get(self.board.is_cancelled.remote(key), timeout=10):
                        cancel.set()
                        return
                except Exception as exc:  # noqa: BLE001 - a lost board must not kill the segment
                    log.debug("cancel poll failed: %s", exc)

        threading.Thread(target=watch, name="ff-cancel-watch", daemon=True).start()
        ship = not self._sees(job.out_path)
        tmpdir = None
        try:
            if ship:
                tmpdir = Path(tempfile.mkdtemp(prefix="fluidframes-seg-"))
                job = dataclasses.replace(job, out_path=tmpdir / Path(job.out_path).name)
            stats = render_segment(job, self.interp,
                                   lambda n: self.board.report.remote(key, n), cancel)
            payload = None
            if ship:
                if Path(job.out_path).is_dir():
                    raise MediaError("PNG-folder output on a cluster needs a shared work folder "
                                     "(set FLUIDFRAMES_CACHE to shared storage)")
                payload = Path(job.out_path).read_bytes()
            return stats, os.getpid(), payload
        finally:
            done.set()
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)

    def _sees(self, out_path) -> bool:
        if ray.get_runtime_context().get_node_id() == self.driver_node:
            return True
        return (Path(out_path).parent / "manifest.json").is_file()


def _worker_class(num_cpus: float, num_gpus: float):
    return ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=MAX_RESTARTS,
                      max_task_retries=MAX_TASK_RETRIES)(_SegmentWorker)


# ---- the driver side -----------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class _Ticket:
    """One segment of one run, as the dispatcher tracks it."""

    key: int
    job: object  # SegmentJob
    on_progress: Callable[[int, int], None]
    attempts: int = 0
    cancelled: bool = False
    result: object = None
    error: BaseException | None = None
    pid: int | None = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def index(self) -> int:
        return self.job.segment.index


_started_ray = False
_init_lock = threading.Lock()


def _ensure_ray(address: str | None, workers: int | None) -> None:
    """Connect to ``address``, or start a private local Ray (offline, no dashboard)."""
    global _started_ray
    with _init_lock:
        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
        quiet = not log.isEnabledFor(logging.DEBUG)
        if address:
            log.info("connecting to the Ray cluster at %s", address)
            try:
                ray.init(address=address, log_to_driver=not quiet, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
        else:
            n = max(int(workers or 1), os.cpu_count() or 1)
            log.info("starting a local Ray with %d CPU(s)", n)
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=not quiet,
                     configure_logging=False, object_store_memory=256 * 1024 * 1024)
        _started_ray = True


class _Pool:
    """N worker actors and the dispatcher thread that feeds them segments."""

    def __init__(self, workers: int | None, address: str | None, model: ModelConfig,
                 cpus_per_worker: int | None = None) -> None:
        _ensure_ray(address, workers)
        res = ray.cluster_resources()
        gpus, cpus = int(res.get("GPU", 0)), int(res.get("CPU", 1))
        if workers is None:  # an existing cluster: one worker per GPU, else per CPU share
            workers = gpus if gpus else max(1, cpus // max(1, cpus_per_worker or 1))
        self.n = int(workers)
        self.num_gpus = 1 if gpus else 0
        self.cpus = cpus_per_worker or max(1, cpus // self.n if not gpus else cpus // max(1, gpus))
        if gpus:
            self.cpus = min(self.cpus, max(1, cpus // self.n))
        self.model = model
        self.board_name = f"fluidframes-board-{uuid.uuid4().hex[:12]}"
        self.board = _Board.options(name=self.board_name, namespace=_NAMESPACE).remote()
        self.driver_node = ray.get_runtime_context().get_node_id()
        self._cls = _worker_class(self.cpus, self.num_gpus)
        self.actors = [self._new_actor() for _ in range(self.n)]
        self.replacements_left = 2 * self.n
        self._lock = threading.Lock()
        self._pending: deque[_Ticket] = deque()
        self._idle: list = []
        self._inflight: dict = {}  # ObjectRef -> (actor, ticket)
        self._keys = itertools.count(1)
        self._closed = False
        self.info = self._wait_ready(self.actors)
        self._pids = {_actor_id(a): i["pid"] for a, i in zip(self.actors, self.info)}
        self._idle = list(self.actors)
        log.info("Ray pool: %d worker(s), %s CPU(s) and %d GPU(s) each, device %s",
                 self.n, self.cpus, self.num_gpus, self.info[0]["device"] if self.info else "?")
        self._thread = threading.Thread(target=self._loop, name="ff-ray-dispatch", daemon=True)
        self._thread.start()

    def _new_actor(self):
        return self._cls.remote(self.model, self.cpus, self.board_name, self.driver_node)

    def _wait_ready(self, actors: list) -> list[dict]:
        try:
            self._last_ready = ray.get([a.ready.remote() for a in actors],
                                       timeout=_READY_TIMEOUT_S)
            return self._last_ready
        except rex.GetTimeoutError:
            raise MediaError(f"Ray workers did not start within {_READY_TIMEOUT_S:.0f} s (are "
                             f"{self.cpus} CPU(s){' and a GPU' if self.num_gpus else ''} free "
                             "per worker?)") from None
        except rex.RayTaskError as exc:
            raise _unwrap(exc) from None

    def worker_pids(self) -> list[int]:
        return ray.get([a.pid.remote() for a in self.actors])

    def running(self) -> list[tuple[int, int | None, int]]:
        """(segment index, worker pid when known, frames reported) of the segments in flight.

        For diagnostics and the fault-injection tests; pids are those seen at start-up or on
        the worker's last completed segment.
        """
        snap = ray.get(self.board.snapshot.remote(), timeout=5)
        return [(t.index, self._pids.get(_actor_id(a)), snap.get(t.key, 0))
                for a, t in list(self._inflight.values())]

    # -- submitting ------------------------------------------------------------------------------
    def run(self, jobs: list, on_progress: Callable[[int, int], None],
            cancel: threading.Event) -> list:
        tickets = [_Ticket(next(self._keys), j, on_progress) for j in jobs]
        with self._lock:
            if self._closed:
                raise MediaError("the Ray pool was shut down")
            self._pending.extend(tickets)
        try:
            for t in tickets:
                while not t.done.wait(0.1):
                    if cancel.is_set():
                        raise CancelledError("cancelled")
                if t.error is not None:
                    raise t.error
        except BaseException:
            self._cancel(tickets)
            raise
        finally:
            self.board.forget.remote([t.key for t in tickets])
        return [t.result for t in tickets]

    def _cancel(self, tickets: list[_Ticket]) -> None:
        with self._lock:
            for t in tickets:
                t.cancelled = True
            self._pending = deque(t for t in self._pending if not t.cancelled)
        self.board.cancel.remote([t.key for t in tickets if not t.done.is_set()])

    # -- the dispatcher thread -------------------------------------------------------------------
    def _loop(self) -> None:
        last_poll = 0.0
        seen: dict[int, int] = {}
        while not self._closed:
            self._assign()
            refs = list(self._inflight)
            if not refs:
                time.sleep(0.05)
                continue
            ready, _ = ray.wait(refs, num_returns=1, timeout=_POLL_S)
            for ref in ready:
                self._finish(ref)
            now = time.monotonic()
            if now - last_poll >= _POLL_S:
                last_poll = now
                self._poll_progress(seen)

    def _assign(self) -> None:
        with self._lock:
            while self._idle and self._pending:
                t = self._pending.popleft()
                if t.cancelled:
                    continue
                actor = self._idle.pop(0)
                t.attempts += 1
                ref = actor.render.remote(t.job, t.key)
                self._inflight[ref] = (actor, t)

    def _poll_progress(self, seen: dict[int, int]) -> None:
        try:
            snap = ray.get(self.board.snapshot.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - progress is best effort
            return
        for actor, t in list(self._inflight.values()):
            n = snap.get(t.key)
            if n is not None and seen.get(t.key) != n:
                seen[t.key] = n
                self._notify(t, n)

    @staticmethod
    def _notify(t: _Ticket, frames: int) -> None:
        try:
            t.on_progress(t.index, frames)
        except Exception:
            log.exception("progress callback failed")

    def _finish(self, ref) -> None:
        actor, t = self._inflight.pop(ref)
        try:
            stats, pid, payload = ray.get(ref)
        except rex.RayTaskError as exc:  # the segment itself failed (bad media, cancel, ...)
            self._release(actor)
            err = _unwrap(exc)
            t.error = err if not t.cancelled else CancelledError("cancelled")
            t.done.set()
            return
        except (rex.RayActorError, rex.WorkerCrashedError, rex.ObjectLostError,
                rex.OutOfMemoryError, rex.NodeDiedError) as exc:
            # Ray already restarted the process and retried the task as far as allowed; replace
            # the actor and resubmit the segment ourselves
            log.warning("worker lost while rendering segment %d (attempt %d): %s",
                        t.index, t.attempts, type(exc).__name__)
            self._replace(actor)
            with self._lock:
                if t.cancelled:
                    t.error = CancelledError("cancelled")
                    t.done.set()
                elif t.attempts >= MAX_ATTEMPTS or not self.actors:
                    t.error = MediaError(f"segment {t.index} failed {t.attempts} time(s): the "
                                         f"worker died ({type(exc).__name__})")
                    t.done.set()
                else:
                    self._pending.appendleft(t)
            return
        if payload is not None:
            _write_atomic(Path(t.job.out_path), payload)
        self._release(actor)
        self._pids[_actor_id(actor)] = pid
        t.pid = pid
        t.result = stats
        self._notify(t, stats.frames_out)
        t.done.set()

    def _release(self, actor) -> None:
        with self._lock:
            if actor in self.actors:
                self._idle.append(actor)

    def _replace(self, actor) -> None:
        try:
            ray.kill(actor, no_restart=True)
        except Exception as exc:  # noqa: BLE001 - already gone
            log.debug("kill of a lost worker: %s", exc)
        with self._lock:
            if actor in self.actors:
                self.actors.remove(actor)
            if self.replacements_left <= 0:
                return
            self.replacements_left -= 1
        new = self._new_actor()
        try:
            self._wait_ready([new])
        except FluidFramesError as exc:
            log.warning("could not replace a lost worker: %s", exc)
            return
        with self._lock:
            self.actors.append(new)
            self._idle.append(new)
            self._pids[_actor_id(new)] = self._last_ready[0]["pid"]

    def close(self) -> None:
        self._closed = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2 * _POLL_S + 1)
        with self._lock:
            for t in self._pending:
                t.error = CancelledError("the Ray pool was shut down")
                t.done.set()
            self._pending.clear()
        for a in self.actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("kill at shutdown: %s", exc)
        self.actors = []


def _actor_id(actor) -> str:
    return actor._actor_id.hex()


def _unwrap(exc: rex.RayTaskError) -> BaseException:
    """The worker's own exception (a FluidFramesError keeps its user-facing message)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return cause
    return MediaError(f"a Ray worker failed: {exc}")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.parent / f".{path.name}.recv-{os.getpid()}"
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---- the public executor -------------------------------------------------------------------------

_POOLS: dict[tuple, _Pool] = {}
_pools_lock = threading.Lock()


class RayExecutor:
    """Render segment jobs on Ray workers (``workers`` local ones, or a cluster's).

    ``RayExecutor(model_config, workers=2).run(jobs, on_progress, cancel)`` returns the
    :class:`~fluidframes.render.SegmentStats` of ``jobs`` in order. Pools are shared per
    process: a second executor with the same cluster, worker count and model reuses the running
    actors (a batch of files interleaves its segments on them).
    """

    device = "ray"

    def __init__(self, model: ModelConfig, workers: int | None = None,
                 address: str | None = None, cpus_per_worker: int | None = None) -> None:
        workers = coerce("workers", VideoOptions.specs()["workers"], workers)
        model = model.validated().resolved()
        if not model.model_file:  # fetch once on the driver: workers then hit the cache
            from ..models import registry, weights

            for spec in registry.weight_specs(model.name):
                weights.ensure(spec)
        self.model_label = model.name
        key = (address, workers, cpus_per_worker, model)
        with _pools_lock:
            pool = _POOLS.get(key)
            if pool is None or pool._closed:
                pool = _POOLS[key] = _Pool(workers, address, model, cpus_per_worker)
        self.pool = pool
        self.threads = pool.info[0].get("threads") if pool.info else None
        self.precision = pool.info[0].get("precision", "") if pool.info else ""

    @property
    def workers(self) -> int:
        return len(self.pool.actors)

    def run(self, jobs: list, on_progress: Callable[[int, int], None],
            cancel: threading.Event) -> list[SegmentStats]:
        if not jobs:
            return []
        return self.pool.run(jobs, on_progress, cancel)


def close_pools() -> None:
    """Stop every pool's actors (their CPUs and GPUs are free again); Ray keeps running."""
    with _pools_lock:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for p in pools:
        p.close()


def shutdown() -> None:
    """Stop every pool's actors, and the local Ray this process started (if any)."""
    global _started_ray
    close_pools()
    with _init_lock:
        if _started_ray and ray.is_initialized():
            ray.shutdown()
        _started_ray = False


atexit.register(shutdown)

__all__ = ["MAX_ATTEMPTS", "RayExecutor", "close_pools", "shutdown"]
