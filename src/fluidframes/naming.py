"""Output names: ``<stem>_<N>X_<fps>fps.<ext>`` beside the input, the name RIFE users know.

The name and the pattern that recognises it live together, so a batch over a folder can skip
the folder's earlier results.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from .report import fmt_rate

CONTAINERS = (".mp4", ".mkv", ".mov", ".webm", ".gif")
#: Matches the stem of a name :func:`default_output` makes.
OUR_OUTPUT = re.compile(r"(_[\d.]+X)?(_slowmo)?_[\d.]+fps$")


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


def default_output(src: Path, *, image_sequence: bool, out_rate: Fraction,
                   factor: Fraction | None, slowmo: bool, png: bool,
                   ext: str | None = None) -> Path:
    """Where a run writes when no output is named: beside the input.

    ``factor`` is the frame multiplier (output frames per source frame; the slow-down factor
    with ``slowmo``). A video keeps its container when we can write it (else .mp4) unless
    ``ext`` names one; ``png`` names a folder; an image folder's result sits next to the folder.
    """
    src = Path(src)
    stem = src.name if image_sequence else src.stem
    base = src.parent / f"{stem}_{output_tag(out_rate, factor, slowmo)}"
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


__all__ = ["CONTAINERS", "OUR_OUTPUT", "default_output", "is_our_output", "output_tag"]
