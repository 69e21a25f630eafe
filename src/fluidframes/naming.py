"""Output names: ``<stem>_<N>X_<fps>fps.<ext>`` beside the input, the name RIFE users know.

A run over a part of the input (``--start``/``--duration``) says which part, in source seconds
from the input's start to the end of the part: ``clip_2X_50fps_12.5s-16.5s.mp4`` (start 12.5,
duration 4; the end is where the part really ends, so a duration past the input's end is
named by the input's end). Decimal seconds, not HH:MM:SS: colons are not allowed in file
names everywhere.

The name and the pattern that recognises it live together, so a batch over a folder can skip
the folder's earlier results.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from .options import fmt_time
from .report import fmt_rate

CONTAINERS = (".mp4", ".mkv", ".mov", ".webm", ".gif")
#: Matches the stem of a name :func:`default_output` makes.
OUR_OUTPUT = re.compile(r"(_[\d.]+X)?(_slowmo)?_[\d.]+fps(_[\d.]+s-[\d.]+s)?$")


def output_tag(out_rate: Fraction, factor: Fraction | None, slowmo: bool) -> str:
    """``2X_50fps``, ``4X_slowmo_25fps``; a target rate that is not a whole multiple of the
    source (``--fps 60`` on 23.976) is named by the rate alone: ``60fps``."""
    parts = []
    if factor is not None and Fraction(factor).denominator == 1:
        parts.append(f"{fmt_rate(factor)}X")
    if slowmo:
        parts.append("slowmo")
    parts.append(f"{fmt_rate(out_rate)}fps")
    return "_".join(parts)


def window_tag(start: Fraction, end: Fraction) -> str:
    """``12.5s-16.5s``: the part of the input a trimmed run covers (source seconds)."""
    return f"{fmt_time(start)}s-{fmt_time(end)}s"


def default_output(src: Path, *, image_sequence: bool, out_rate: Fraction,
                   factor: Fraction | None, slowmo: bool, png: bool,
                   ext: str | None = None,
                   window: tuple[Fraction, Fraction] | None = None) -> Path:
    """Where a run writes when no output is named: beside the input.

    ``factor`` is the frame multiplier (output frames per source frame; the slow-down factor
    with ``slowmo``). A video keeps its container when we can write it (else .mp4) unless
    ``ext`` names one; ``png`` names a folder; an image folder's result sits next to the folder.
    ``window`` (start, end) marks a trimmed run (:func:`window_tag`).
    """
    src = Path(src)
    stem = src.name if image_sequence else src.stem
    tag = output_tag(out_rate, factor, slowmo)
    if window is not None:
        tag += "_" + window_tag(*window)
    base = src.parent / f"{stem}_{tag}"
    if png:
        return base
    if ext:
        suffix = "." + ext.lstrip(".").lower()
    elif not image_sequence and src.suffix.lower() in CONTAINERS:
        suffix = src.suffix.lower()
    else:
        suffix = ".mp4"
    return base.with_name(base.name + suffix)


def is_our_output(path: Path) -> bool:
    """Whether ``path`` looks like a name :func:`default_output` made."""
    return bool(OUR_OUTPUT.search(Path(path).stem))


__all__ = ["CONTAINERS", "OUR_OUTPUT", "default_output", "is_our_output", "output_tag",
           "window_tag"]
