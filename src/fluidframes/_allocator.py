"""Keep freed CPU memory in the process instead of handing it back to the kernel after every op.

PyTorch's CPU tensors come from ``malloc``. glibc serves blocks above its mmap threshold (128 KiB
at first, adapting up to 32 MiB) with fresh ``mmap`` calls and gives them back on ``free``, so
every large temporary of a forward pass (a 1280x720 fp32 plane of 3 channels is 11 MiB) is
page-faulted in and zeroed by the kernel again on every call. Measured at 1280x720 on the 2-core
development CPU: rife-4.6's fast path took ~15,000 minor page faults per interpolated frame
(~60 MB), rife-4.25's ~48,000; with the settings below that drops to ~150 and ~4,000, and the
whole ``prepare`` + ``run`` is 1.10x (rife-4.6) and 1.17x (rife-4.25) faster, for 10-70 MB more
resident memory (benchmarks/README.md).

The settings (``mallopt``): no ``mmap`` for allocations (they come from the heap and are reused
after ``free``), and the heap top is only trimmed back to the kernel when more than 1 GiB of it
is free. While a job runs the process keeps its peak working set, as PyTorch's CUDA caching
allocator does on a GPU; :func:`release_free_memory` (``malloc_trim``) hands the free part back
when a video job ends, so a long-lived process (the web app, a batch) does not keep the peak of
its largest job (measured: a process that had run a 1080p job then read 1.8 GB peak RSS on a
720p one instead of 0.7 GB).

Process-wide, glibc (Linux) only, applied once when a CPU :class:`~fluidframes.engine.Interpolator`
is built. ``FLUIDFRAMES_MALLOC=system`` leaves the C library's defaults alone (the speed
benchmark runs its plain baseline that way, as the research scripts run).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_BYTES = 1 << 30

_state: str | None = None  # None: not tried yet; else what happened


def keep_freed_memory() -> str:
    """Apply the settings once per process; returns 'tuned', 'system' (opted out) or 'unavailable'."""
    global _state
    if _state is not None:
        return _state
    if os.environ.get("FLUIDFRAMES_MALLOC", "").lower() == "system":
        _state = "system"
    elif not sys.platform.startswith("linux"):
        _state = "unavailable"
    else:
        _state = _mallopt()
    log.debug("CPU allocator: %s", _state)
    return _state


def release_free_memory() -> None:
    """Give the kernel back the free heap memory (only where :func:`keep_freed_memory` tuned)."""
    if _state == "tuned":
        _libc().malloc_trim(0)  # present: keep_freed_memory found glibc


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def _mallopt() -> str:
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return "unavailable"
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES) == 1
    return "tuned" if ok else "unavailable"
