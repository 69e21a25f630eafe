"""Speed benchmark: our pipeline against the plain research-script way, measured in one run.

For one model and one frame size this measures

* per stage: decode fps (PyAV), inference fps (ours: cached per-frame features + fast backend;
  plain: fp32 eager model per timestep, features recomputed every call), encode fps;
* end to end: output fps of ``interpolate_video`` (threads, bounded queues) against
  :func:`plain_baseline` (decode a frame, run the fp32 eager model per pair, write it, all one
  after the other: what ``inference_video.py`` of the research code does);
* peak resident memory of each measured call (sampled every 10 ms, psutil).

The plain baseline runs in its own worker process (``spawn``, ``FLUIDFRAMES_MALLOC=system``), as
the research scripts run: C library allocator defaults, no :mod:`fluidframes._allocator` tuning,
which is process-wide and would speed the baseline up too (x1.16-x1.55) if it shared our
process. Same model, device, scale, torch thread count and frames on both sides. The two sides
still alternate (A B, B A, A B ...; the parent waits while the worker runs) and medians are
reported, so drift of a shared machine hits both alike; wall time and process CPU time are both
kept (on a busy 2-core machine CPU time is the steadier of the two). Wall, CPU time and peak
RSS of a baseline call are the worker's own; peak RSS is therefore per process: the parent holds
only our interpolator, the worker only the plain one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import logging
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import numpy as np

from .options import ModelConfig

log = logging.getLogger(__name__)

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "480p": (854, 480)}


@dataclass
class BenchConfig:
    """What to measure; the model side is a :class:`~fluidframes.options.ModelConfig`."""

    model: ModelConfig = field(default_factory=ModelConfig)
    size: str = "720p"  # 720p, 1080p, 480p or WxH; "native" keeps the input's size
    input: str | None = None  # a video; default the bigbuckbunny sample; "synthetic" for noise
    frames: int = 6  # source frames per run
    runs: int = 3  # interleaved repetitions
    multi: int = 2
    e2e: bool = True


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float, peak: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.peak_rss_mb.append(peak)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


class _PeakRSS:
    """Peak resident set size during a block, sampled in a thread (MB)."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> Self:
        self.peak = self._proc.memory_info().rss
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _timed(fn: Callable[[], Any], fresh: bool = False) -> tuple[Any, float, float, float]:
    """``fn()``'s result, wall time, this process's CPU time and its peak RSS (MB) during it.

    ``fresh``: first hand back the free heap memory kept from earlier calls (see
    :mod:`fluidframes._allocator`), so the call starts as cold as a new job and its peak RSS is
    its own (otherwise memory an earlier call left in another thread's heap adds to it). The
    end-to-end runs are measured this way; the inference-only loops measure steady state.
    """
    from . import _allocator

    if fresh:
        _allocator.release_free_memory()
    with _PeakRSS() as mem:
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return out, wall, cpu, mem.peak / 2**20


def _measure(fn: Callable[[], Any], timing: Timing, fresh: bool = False) -> Any:
    out, wall, cpu, peak = _timed(fn, fresh)
    timing.add(wall, cpu, peak)
    return out


# ---- input clip ------------------------------------------------------------------------------

def _parse_size(size: str) -> tuple[int, int] | None:
    if size == "native":
        return None
    if size in SIZES:
        return SIZES[size]
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        from .errors import InputError

        raise InputError(f"size must be 720p, 1080p, 480p, native or WxH, got {size!r}") from None
    return w, h


def source_frames(cfg: BenchConfig) -> list[np.ndarray]:
    """``cfg.frames`` RGB frames at ``cfg.size`` (resized with Lanczos when the size differs)."""
    size = _parse_size(cfg.size)
    if cfg.input == "synthetic":
        w, h = size or (128, 96)
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
        base = np.kron(base, np.ones((4, 4, 1), dtype=np.uint8))
        return [np.ascontiguousarray(np.roll(base, 2 * i, axis=1)[:h, :w]) for i in range(cfg.frames)]
    import av

    from .samples import sample_path

    src = cfg.input or str(sample_path("bigbuckbunny"))
    out: list[np.ndarray] = []
    with av.open(src) as c:
        for frame in c.decode(video=0):
            img = frame.to_ndarray(format="rgb24")
            if size and (img.shape[1], img.shape[0]) != size:
                from PIL import Image

                img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))
            out.append(img)
            if len(out) >= cfg.frames:
                break
    return out


def write_clip(frames: list[np.ndarray], path: Path, rate: Fraction = Fraction(25)) -> Path:
    """Encode ``frames`` as a near-lossless H.264 clip (the benchmark's input file)."""
    from .video.writer import EncodeOptions, VideoWriter

    h, w = frames[0].shape[:2]
    wr = VideoWriter(path, w, h, rate, None, EncodeOptions(crf=12))
    for f in frames:
        wr.write(f)
    os.replace(wr.close(), path)
    return path


# ---- the plain baseline --------------------------------------------------------------------------

def plain_baseline(src: Path, dst: Path, plain, multi: int) -> int:
    """The research scripts' way: decode a frame, run the fp32 eager model for each new frame of
    the pair (features recomputed in every call), write, all sequential. Returns frames written.

    ``plain`` is an ``Interpolator`` on the ``eager`` backend at fp32.
    """
    import av

    from .video.writer import EncodeOptions, VideoWriter

    written = 0
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        rate = Fraction(stream.average_rate or 25) * multi
        wr = None
        prev = None
        for frame in c.decode(stream):
            img = frame.to_ndarray(format="rgb24")
            if wr is None:
                wr = VideoWriter(dst, img.shape[1], img.shape[0], rate, None, EncodeOptions())
            if prev is not None:
                for k in range(1, multi):
                    wr.write(plain.interpolate(prev, img, k / multi))
                    written += 1
            wr.write(img)
            written += 1
            prev = img
        if wr is not None:
            os.replace(wr.close(), dst)
    return written


# ---- the benchmark ---------------------------------------------------------------------------------

def _frames_digest(frames: list[np.ndarray]) -> str:
    h = hashlib.sha1()
    for f in frames:
        h.update(repr(f.shape).encode())
        h.update(np.ascontiguousarray(f).data)
    return h.hexdigest()


BASELINE_PROCESS = "separate, default malloc"


class BaselineWorkerError(RuntimeError):
    """The plain-baseline worker process failed or died."""


def _plain_worker(conn, cfg: BenchConfig, threads: int) -> None:
    """Worker process: the plain fp32 eager Interpolator, as a research script would run it.

    Messages in: ``("infer", {})``, ``("e2e", {"src", "dst", "multi"})``, ``("stop", {})``.
    Replies: ``("ok", {...})`` or ``("error", traceback text)``; the first message out is
    ``("ready", {...})`` (or ``("error", ...)``) once the model is loaded and warmed up.
    """
    os.environ["FLUIDFRAMES_MALLOC"] = "system"  # before any Interpolator exists in here
    try:
        import torch

        from . import _allocator
        from .engine import load_interpolator

        plain = load_interpolator(dataclasses.replace(cfg.model, precision="fp32",
                                                      backend="eager", threads=threads))
        plain.keep_prepared = 0  # the research scripts recompute everything per call
        frames = source_frames(cfg)
        ts = [k / cfg.multi for k in range(1, cfg.multi)]
        plain.interpolate(frames[0], frames[1], ts[0])  # warm-up
        # codecs used once before the first timed call, as the parent has by then
        with tempfile.TemporaryDirectory(prefix="ff-bench-plain-") as tmp:
            import av

            with av.open(str(write_clip(frames[:2], Path(tmp) / "warm.mp4"))) as c:
                for _ in c.decode(video=0):
                    pass
        conn.send(("ready", {"pid": os.getpid(), "malloc": _allocator.keep_freed_memory(),
                             "threads": torch.get_num_threads(), "info": asdict(plain.info),
                             "frames": _frames_digest(frames)}))
    except Exception:  # noqa: BLE001 - any failure goes back to the parent as text
        conn.send(("error", traceback.format_exc()))
        return

    def infer() -> int:
        n = 0
        for a, b in itertools.pairwise(frames):
            for x in ts:
                plain.interpolate(a, b, x)
                n += 1
        return n

    while True:
        try:
            op, args = conn.recv()
        except (EOFError, KeyboardInterrupt):  # parent gone or interrupted
            return
        if op == "stop":
            return
        try:
            if op == "infer":
                fn = infer
            elif op == "e2e":
                fn = functools.partial(plain_baseline, Path(args["src"]), Path(args["dst"]),
                                       plain, args["multi"])
            else:
                raise ValueError(f"unknown request {op!r}")
            count, wall, cpu, peak = _timed(fn)
            conn.send(("ok", {"wall": wall, "cpu": cpu, "peak_rss_mb": peak, "count": count}))
        except KeyboardInterrupt:
            return
        except Exception:  # noqa: BLE001 - any failure goes back to the parent as text
            conn.send(("error", traceback.format_exc()))


class _PlainWorker:
    """Parent side of :func:`_plain_worker`: start, request, always shut down."""

    def __init__(self, cfg: BenchConfig, threads: int) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_plain_worker, args=(child, cfg, threads),
                                 name="fluidframes-bench-plain", daemon=True)
        # in the child's environment from its first instruction on (the worker sets it again)
        old = os.environ.get("FLUIDFRAMES_MALLOC")
        os.environ["FLUIDFRAMES_MALLOC"] = "system"
        try:
            self._proc.start()
        finally:
            if old is None:
                del os.environ["FLUIDFRAMES_MALLOC"]
            else:
                os.environ["FLUIDFRAMES_MALLOC"] = old
            child.close()
        self.ready: dict[str, Any] | None = None

    def _recv(self, what: str) -> tuple[str, Any]:
        try:
            while not self._conn.poll(0.2):
                if not self._proc.is_alive() and not self._conn.poll(0):
                    raise self._gone(what)
        except (EOFError, OSError):
            raise self._gone(what) from None
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            raise self._gone(what) from None
        if kind == "error":
            raise BaselineWorkerError(f"plain baseline worker failed during {what}:\n{payload}")
        return kind, payload

    def _gone(self, what: str) -> BaselineWorkerError:
        self._proc.join(1)
        return BaselineWorkerError(f"plain baseline worker (pid {self._proc.pid}) died during "
                                   f"{what} (exit code {self._proc.exitcode})")

    def wait_ready(self) -> dict[str, Any]:
        if self.ready is None:
            _, self.ready = self._recv("start-up")
        return self.ready

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.wait_ready()
        try:
            self._conn.send((op, args))
        except OSError:
            raise self._gone(op) from None
        return self._recv(op)[1]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._proc.is_alive():
                self._conn.send(("stop", {}))
        except (OSError, ValueError):  # pipe already broken or closed
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._conn.close()


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-ready dict (see the module docstring)."""
    import torch

    from . import _allocator
    from .engine import load_interpolator
    from .pipeline import interpolate_video
    from .video.reader import probe, read_frames
    from .video.writer import EncodeOptions, VideoWriter

    _allocator.release_free_memory()  # an earlier run's working set must not count here
    say = progress or (lambda msg: log.info("%s", msg))
    frames = source_frames(cfg)
    if len(frames) < 2:
        from .errors import InputError

        raise InputError("the benchmark needs at least two source frames")
    h, w = frames[0].shape[:2]
    ours = load_interpolator(cfg.model)
    threads = torch.get_num_threads()  # the worker runs with the same count
    ts = [k / cfg.multi for k in range(1, cfg.multi)]
    n_pairs = len(frames) - 1
    made = n_pairs * len(ts)
    t = {k: Timing() for k in ("decode", "encode", "infer_ours", "infer_plain", "infer_api",
                               "e2e_ours", "e2e_plain")}
    # the worker is closed before the folder it writes into goes away
    with tempfile.TemporaryDirectory(prefix="ff-bench-") as tmp, _PlainWorker(cfg, threads) as worker:
        tmpd = Path(tmp)
        clip = write_clip(frames, tmpd / "in.mp4")
        info = probe(clip)

        def decode() -> int:
            return sum(1 for _ in read_frames(info))

        def encode() -> None:
            wr = VideoWriter(tmpd / "enc.mp4", w, h, Fraction(50), None, EncodeOptions())
            for i in range(2 * n_pairs + 1):
                wr.write(frames[i % len(frames)])
            wr.close().unlink()

        def infer_ours() -> None:
            prev = ours.prepare(frames[0])
            for img in frames[1:]:
                cur = ours.prepare(img)
                ours.run(prev, cur, ts)
                prev = cur

        def infer_api() -> None:
            # the public call alone, used the way the plain loop uses it
            ours.clear_cache()
            for a, b in itertools.pairwise(frames):
                for x in ts:
                    ours.interpolate(a, b, x)

        def e2e_ours() -> int:
            ours.clear_cache()  # frames remembered by infer_api are not part of this job
            s = interpolate_video(clip, tmpd / "ours.mp4", multi=cfg.multi, interpolator=ours,
                                  overwrite=True, scene_detect=False)
            return s.frames_out

        say(f"warm-up ({w}x{h}, {len(frames)} frames; plain baseline in a separate process)")
        infer_ours()
        base = worker.wait_ready()  # loaded and warmed up (its own model, once) meanwhile
        if base["frames"] != _frames_digest(frames):
            raise BaselineWorkerError("the plain baseline worker loaded different frames")
        # the baseline's calls run in the worker, which reports its own times and peak RSS
        plain_ops = {"infer_plain": ("infer", {}),
                     "e2e_plain": ("e2e", {"src": str(clip), "dst": str(tmpd / "plain.mp4"),
                                           "multi": cfg.multi})}
        pairs = [("infer_plain", None), ("infer_ours", infer_ours),
                 ("infer_plain", None), ("infer_api", infer_api)]
        if cfg.e2e:
            pairs += [("e2e_plain", None), ("e2e_ours", e2e_ours)]
        counts = {"e2e_ours": 0, "e2e_plain": 0}
        for r in range(cfg.runs):
            _measure(decode, t["decode"])
            _measure(encode, t["encode"])
            order = pairs if r % 2 == 0 else [p for i in range(0, len(pairs), 2)
                                              for p in (pairs[i + 1], pairs[i])]
            for name, fn in order:
                say(f"run {r + 1}/{cfg.runs}: {name}")
                if fn is None:
                    op, args = plain_ops[name]
                    got = worker.call(op, **args)
                    t[name].add(got["wall"], got["cpu"], got["peak_rss_mb"])
                    out = got["count"]
                else:
                    out = _measure(fn, t[name], fresh=name.startswith("e2e"))
                if name in counts:
                    counts[name] = out

    def fps(name: str, count: int) -> dict[str, float]:
        tm = t[name]
        return {"fps": count / tm.median_wall, "cpu_fps": count / tm.median_cpu,
                "median_s": tm.median_wall, "peak_rss_mb": max(tm.peak_rss_mb)}

    result: dict[str, Any] = {
        "config": asdict(cfg),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "device": ours.info.device},
        "ours": asdict(ours.info),
        "baseline_process": BASELINE_PROCESS,
        # peak RSS is per process: ours in this one, plain in the worker
        "processes": {
            "ours": {"pid": os.getpid(), "threads": threads,
                     "malloc": (_allocator.keep_freed_memory() if ours.info.device == "cpu"
                                else "untouched")},
            "plain": {"pid": base["pid"], "malloc": base["malloc"], "threads": base["threads"],
                      "info": base["info"]},
        },
        "frames": {"width": w, "height": h, "source": len(frames), "interpolated": made,
                   # the pipeline also fills the last source frame's interval (held frames)
                   "output": counts["e2e_ours"] or None, "output_plain": counts["e2e_plain"] or None},
        "stages": {
            "decode": fps("decode", len(frames)),
            "encode": fps("encode", 2 * n_pairs + 1),
            "inference_ours": fps("infer_ours", made),
            "inference_plain": fps("infer_plain", made),
            "interpolate_ours": fps("infer_api", made),
        },
        "runs": {k: asdict(v) for k, v in t.items() if v.wall},
    }
    st = result["stages"]
    result["inference_ratio"] = st["inference_ours"]["fps"] / st["inference_plain"]["fps"]
    result["inference_cpu_ratio"] = st["inference_ours"]["cpu_fps"] / st["inference_plain"]["cpu_fps"]
    result["interpolate_ratio"] = st["interpolate_ours"]["fps"] / st["inference_plain"]["fps"]
    if cfg.e2e:
        e_o, e_p = fps("e2e_ours", counts["e2e_ours"]), fps("e2e_plain", counts["e2e_plain"])
        result["end_to_end"] = {"ours": e_o, "plain": e_p, "ratio": e_o["fps"] / e_p["fps"]}
    return result


def format_table(res: dict[str, Any]) -> str:
    """A few human lines for one :func:`run_bench` result."""
    f, st = res["frames"], res["stages"]
    o = res["ours"]
    lines = [
        (f"{o['name']} {f['width']}x{f['height']}  backend {o['backend']}/{o['precision']} on "
         f"{o['device']}, {res['machine']['threads']} threads, {res['config']['runs']} "
         "interleaved runs"),
        f"  decode {st['decode']['fps']:8.1f} fps   encode {st['encode']['fps']:8.1f} fps",
        (f"  inference  plain {st['inference_plain']['fps']:6.2f} fps   ours "
         f"{st['inference_ours']['fps']:6.2f} fps   x{res['inference_ratio']:.2f} "
         f"(cpu-time x{res['inference_cpu_ratio']:.2f})"),
        (f"  Interpolator.interpolate alone  ours {st['interpolate_ours']['fps']:6.2f} fps   "
         f"x{res['interpolate_ratio']:.2f}"),
    ]
    if "end_to_end" in res:
        e = res["end_to_end"]
        lines.append(
            f"  end to end plain {e['plain']['fps']:6.2f} fps   ours {e['ours']['fps']:6.2f} fps   "
            f"x{e['ratio']:.2f}   peak RSS plain {e['plain']['peak_rss_mb']:.0f} MB, ours "
            f"{e['ours']['peak_rss_mb']:.0f} MB")
    if "processes" in res:
        pr = res["processes"]
        lines.append(
            f"  plain baseline in a separate process (pid {pr['plain']['pid']}, malloc "
            f"{pr['plain']['malloc']}, {pr['plain']['threads']} threads); ours malloc "
            f"{pr['ours']['malloc']}; peak RSS per process")
    return "\n".join(lines)
