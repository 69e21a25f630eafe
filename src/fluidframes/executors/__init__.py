"""Executors: who renders a run's segments.

The pipeline hands its list of :class:`~fluidframes.render.SegmentJob` to an executor object
with one small interface (:class:`Executor`); it never chooses one by name. Two exist:

* :class:`~fluidframes.executors.local.LocalExecutor`: segments one after another in this
  process, with one loaded :class:`~fluidframes.engine.Interpolator`;
* :class:`~fluidframes.executors.ray.RayExecutor`: segments on Ray workers (local or a cluster),
  imported only when asked for.

:func:`executor_for` is the factory the public API and the shells use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from ..errors import InputError
from ..options import RunOptions


class Executor(Protocol):
    """Renders segment jobs; returns their stats in order. Raises CancelledError on cancel."""

    device: str  # where the work runs, for the summary ("cpu", "cuda:0", "ray")
    model_label: str  # the model's name, for the summary and the montage label
    threads: int | None  # torch's CPU threads per model instance (None: GPU or unknown)
    precision: str  # the convolutions' precision (fp32, bf16, fp16)

    def run(self, jobs: list, on_progress: Callable[[int, int], None],
            cancel: threading.Event) -> list: ...


def executor_for(options: RunOptions, interpolator=None) -> Executor:
    """The executor ``options`` ask for: Ray when ``workers``/``ray_address`` is set, else
    local with ``interpolator`` (loaded from ``options.model`` when None)."""
    v = options.video
    if v.distributed:
        try:
            from .ray import RayExecutor
        except ImportError as exc:
            raise InputError("workers/ray_address need Ray: pip install "
                             f"'fluidframes[distributed]' ({exc})") from None
        return RayExecutor(options.model, workers=v.workers, address=v.ray_address)
    from .local import LocalExecutor

    if interpolator is None:
        from ..engine import load_interpolator

        interpolator = load_interpolator(options.model)
    return LocalExecutor(interpolator)


def shutdown() -> None:
    """Stop the Ray pools and the local Ray this process started, if Ray was ever used."""
    import sys

    mod = sys.modules.get(__name__ + ".ray")
    if mod is not None:
        mod.shutdown()


__all__ = ["Executor", "executor_for", "shutdown"]
