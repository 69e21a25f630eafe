"""The in-process executor: segments one after another with one loaded model."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..render import SegmentJob, SegmentStats, render_segment


class LocalExecutor:
    def __init__(self, interpolator) -> None:
        self.interp = interpolator
        self.device = interpolator.info.device
        self.model_label = interpolator.info.name
        self.threads = interpolator.info.threads
        self.precision = interpolator.info.precision

    def run(self, jobs: list[SegmentJob], on_progress: Callable[[int, int], None],
            cancel: threading.Event) -> list[SegmentStats]:
        out = []
        for job in jobs:
            idx = job.segment.index
            out.append(render_segment(job, self.interp, lambda n, i=idx: on_progress(i, n),
                                      cancel))
        return out
