"""How much work one job may ask for, decided before the job exists.

An upload is planned with the pipeline's own :func:`~fluidframes.pipeline.plan_run` (the same
checks as the CLI: rate rules, encoder and pixel format for the container, the global output
length bound), then held against the server's limits (``serve --max-output-frames``,
``--max-pixel-rate``, ``--max-duration``). A job beyond them is a 400 with one line saying
which limit and by how much; nothing is stored. The runner checks the frame count again while
the job runs, in case a file's header under-stated its length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError
from .config import ServerConfig


@dataclass
class Work:
    """What a job will make (for the limits and the job's description)."""

    out_rate: Fraction
    tempo: Fraction
    frames: int
    width: int  # output width (a montage is twice the source)
    height: int
    seconds: float  # source seconds rendered

    @property
    def pixel_rate(self) -> float:
        return float(self.width * self.height * self.out_rate)


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _mpx(rate: float) -> str:
    return f"{rate / 1e6:,.0f} megapixels per second"


def plan_work(src: Path, dst: Path, options: dict[str, Any],
              window: tuple[float, float] | None = None):
    """Plan the run (raises InputError for anything the pipeline would refuse) -> (RunPlan,
    Work). ``window`` = (start, seconds) for a preview."""
    from ..options import RunOptions
    from ..pipeline import plan_run

    plan = plan_run(src, dst, RunOptions.from_kwargs(**options))
    montage = bool(options.get("montage"))
    width = plan.info.width * (2 if montage else 1)
    if window is not None:
        seconds = window[1]
        frames = math.ceil(Fraction(seconds).limit_denominator(10**6) / plan.tempo * plan.out_rate)
    else:
        seconds = float(plan.info.duration) if plan.info.duration else math.nan
        frames = plan.total if plan.total is not None else -1
    return plan, Work(plan.out_rate, plan.tempo, frames, width, plan.info.height, seconds)


def check_work(work: Work, config: ServerConfig, name: str) -> None:
    """Raise InputError if ``work`` is more than this server allows per job."""
    if work.frames < 0 or not math.isfinite(work.seconds):
        raise InputError(f"cannot tell how long {name} is, so its work cannot be bounded: "
                         "re-mux it (e.g. ffmpeg -i in -c copy out.mp4) and upload that")
    if work.seconds > config.max_duration:
        raise InputError(f"{name} lasts {_clock(work.seconds)}; this server takes at most "
                         f"{_clock(config.max_duration)} of video per job")
    if work.frames > config.max_output_frames:
        raise InputError(f"the output would have {work.frames:,} frames; this server makes at "
                         f"most {config.max_output_frames:,} per job: ask for a lower rate or "
                         "multiplier, or a shorter video")
    if work.pixel_rate > config.max_pixel_rate:
        raise InputError(
            f"the output would be {work.width}x{work.height} at {float(work.out_rate):g} fps "
            f"({_mpx(work.pixel_rate)}); this server allows at most "
            f"{_mpx(config.max_pixel_rate)}: ask for a lower rate")


__all__ = ["Work", "check_work", "plan_work"]
