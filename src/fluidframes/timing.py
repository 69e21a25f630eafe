"""Exact output timing: which output frames exist, and which source pair + ``t`` each one needs.

Everything here is :class:`fractions.Fraction`; no float ever touches a timestamp, so a
two-hour 23.976 fps film retimed to 60 fps ends on exactly the frame it should (the research
scripts drift because they accumulate ``1/fps`` floats and assume every frame lasts ``1/fps``).

Model
-----
* The source is a list of frames with real presentation timestamps ``pts`` (seconds, rational).
  They need not be evenly spaced (VFR); the timing plan uses them as they are, never
  ``index / rate``.
* Source time is measured from the first frame: the first output frame *is* the first source
  frame, at output time 0.
* The source covers ``[0, D)`` where ``D = last_pts + last_frame_duration`` (the last frame is
  shown for one nominal frame duration, ``1/source_rate``, unless told otherwise).
* Output frame ``i`` is shown at ``time = i / out_rate`` and samples the source at
  ``src_time = time * tempo`` (``tempo < 1`` is slow motion).
* There is one output frame for every output instant inside the source span:
  ``count = ceil(D / tempo * out_rate)``.  The output therefore lasts
  ``count / out_rate``, which equals ``D / tempo`` exactly when that is a whole number of output
  frames (e.g. ``--multi N`` on CFR input gives exactly ``N * source_frames``) and is otherwise
  at most one output frame longer.  ``ceil`` rather than ``round`` is deliberate: it is the
  only rule under which a step emitted while streaming (``src_time < pts`` of a frame that
  exists) can never turn out to be past the end once the clip's length is known.
* Output instants after the last source frame (the ``N - 1`` trailing slots of ``--multi N``)
  *hold* the last frame: there is nothing to interpolate towards.  The research scripts
  instead stop at the last source frame (``N * (n - 1) + 1`` frames), which shortens the video by
  ``N - 1`` output frames and puts audio out of sync at the end.

Rate options (``RateSpec`` -> :func:`output_rate`)
--------------------------------------------------
* ``multi=N``: ``out_rate = source_rate * N``, ``tempo = 1``.
* ``fps=F``: ``out_rate = F``, ``tempo = 1`` (any positive rational, e.g. 24000/1001 -> 60).
* ``multi=N`` (or ``exp``) with ``fps=F``: ``N`` times the frames, written at ``F`` fps, as the
  research scripts' ``--exp K --fps F`` does: ``out_rate = F``,
  ``tempo = F / (source_rate * N)`` (on 30 fps input, ``--exp 2 --fps 60`` plays 2x slower;
  the audio is stretched to stay in sync).
* ``slowmo=True``: motion plays ``N`` times slower, ``N = multi`` (default 2).  The output rate
  is ``fps`` if given, else the source rate; ``tempo = 1/N``.  So ``--multi 4 --slowmo`` on
  25 fps input gives 4x the frames at 25 fps (4x longer); ``--slowmo --fps 60`` on 24 fps input
  plays 2x slower at 60 fps.

Variable frame rate sources
---------------------------
A VFR stream has no single rate, and what its container states is often a time base in
disguise (24 and 30 fps parts in one Matroska file give ``r_frame_rate`` 120).  The source rate
of such a stream is :func:`dominant_rate`: the rate of its most common frame interval, snapped
by :func:`snap_rate` to a standard rate (24000/1001, 24, 25, 30000/1001, 30, 50, 60, ...) when
within 0.5 %.  ``--multi N`` then means about N times the frames *on the real timestamps*,
written at ``N x`` that rate (24 + 30 fps parts, ``--multi 2``: 60 fps, 2 x the clip's length in
frames, not 240 fps); ``--fps`` overrides it as for any input.  The reader (which measures the
intervals) records a note saying the input was VFR and which rate it used.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from fluidframes.errors import InputError

log = logging.getLogger(__name__)

__all__ = [
    "RateSpec",
    "Step",
    "TimingPlan",
    "STANDARD_RATES",
    "dominant_rate",
    "output_rate",
    "parse_rate",
    "plan_steps",
    "snap_rate",
]

#: Decimal spellings of the NTSC rates (``N * 1000/1001``) that people type; each maps to the
#: exact rational so 23.976 does not drift against the real 24000/1001 by 1 frame in ~4 hours.
_NTSC_DECIMALS: dict[str, Fraction] = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "47.95": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
    "239.76": Fraction(240000, 1001),
}

_RATE_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(\d+(?:\.\d*)?|\.\d+)\s*)?",
                      re.ASCII)
_MAX_RATE_TEXT = 32  # "120000/1001" is 11; past this it is not a frame rate anybody typed
_EXPECTED = "expected e.g. 60, 59.94 or 60000/1001"


def _shown(value: object) -> str:
    """``value`` for a one-line message: repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "...'"


def parse_rate(text: str | int | Fraction) -> Fraction:
    """Parse a frame rate as typed by a user into an exact positive :class:`Fraction`.

    Accepts integers (``"60"``), decimals (``"59.94"``, ``"12.5"``) and ratios
    (``"60000/1001"``, ``"30/1.001"``), ASCII digits only, at most 32 characters.  The NTSC
    decimals 23.976 (23.98), 29.97, 47.952, 59.94, 119.88 and 239.76 are read as the exact
    ``x000/1001`` rates they stand for; any other decimal is taken literally (``"12.5"`` ->
    25/2).  ``int`` and ``Fraction`` pass through (validated).  Raises :class:`InputError`
    (a one-line message) on anything else or a rate <= 0, never another exception.
    """
    if isinstance(text, bool):  # bool is an int; never a frame rate
        raise InputError(f"invalid frame rate {text!r}")
    if isinstance(text, (int, Fraction)):
        rate = Fraction(text)
    else:
        if not isinstance(text, str):
            raise InputError(f"invalid frame rate {_shown(text)}: {_EXPECTED}")
        if len(text) > _MAX_RATE_TEXT:
            raise InputError(f"invalid frame rate {_shown(text)} ({len(text)} characters): "
                             f"{_EXPECTED}")
        m = _RATE_RE.fullmatch(text)
        if m is None:
            raise InputError(f"invalid frame rate {_shown(text)}: {_EXPECTED}")
        num, den = m.group(1), m.group(2)
        if den is None and num in _NTSC_DECIMALS:
            rate = _NTSC_DECIMALS[num]
        else:
            if den is not None and Fraction(den) == 0:
                raise InputError(f"invalid frame rate {_shown(text)}: division by zero")
            rate = Fraction(num) / (Fraction(den) if den is not None else 1)
    if rate <= 0:
        raise InputError(f"frame rate must be positive, got {_shown(text)}")
    return rate


#: Frame rates real footage uses. A measured rate this close (relative) to one of them is taken
#: to be that rate exactly: timestamps stored in whole milliseconds cannot say 24 fps any better.
STANDARD_RATES: tuple[Fraction, ...] = tuple(
    Fraction(r) for r in ("10", "12", "15", "16", "18", "20", "24000/1001", "24", "25",
                          "30000/1001", "30", "48000/1001", "48", "50", "60000/1001", "60",
                          "72", "90", "100", "120000/1001", "120", "144", "240")
)
_SNAP = Fraction(1, 200)
#: Above this a rate is a broken timestamp, not footage (high-speed cameras stop near 1000).
MAX_PLAUSIBLE_RATE = Fraction(1000)


def snap_rate(rate: Fraction, tolerance: Fraction = _SNAP) -> Fraction:
    """The standard rate within ``tolerance`` (relative) of ``rate``, the nearest one if several;
    else the nearest fraction with a denominator up to 1001 if that is within 0.01 % (12.5
    measured as 12.50003 -> 25/2), else ``rate`` itself."""
    rate = Fraction(rate)
    if rate <= 0:
        raise InputError(f"frame rate must be positive, got {rate}")
    near = [r for r in STANDARD_RATES if abs(r - rate) <= r * tolerance]
    if near:
        return min(near, key=lambda r: abs(r - rate))
    simple = rate.limit_denominator(1001)
    return simple if simple > 0 and abs(simple - rate) <= rate / 10_000 else rate


def dominant_rate(times: Iterable[Fraction | int], tick: Fraction | int = 0) -> Fraction | None:
    """The frame rate of the most common frame interval of ``times`` (seconds, any order).

    Intervals are grouped when they differ by at most one ``tick`` (the time base, for rounded
    timestamps) plus 1 %; the largest group wins (ties: the one covering more time) and its mean
    interval, snapped by :func:`snap_rate`, gives the rate. ``None`` with fewer than two
    distinct times. Used as the nominal rate of variable-frame-rate sources (module docstring).
    """
    ts = sorted({Fraction(t) for t in times})
    steps = sorted(b - a for a, b in zip(ts, ts[1:]))
    if not steps:
        return None
    tick = abs(Fraction(tick))
    best: list[Fraction] = []
    group: list[Fraction] = []
    for d in steps + [None]:  # type: ignore[list-item]
        if d is not None and group and d - group[0] <= tick + group[0] / 100:
            group.append(d)
            continue
        if group and (len(group), sum(group)) > (len(best), sum(best)):
            best = group
        group = [d] if d is not None else []
    return snap_rate(len(best) / sum(best))


@dataclass(frozen=True)
class RateSpec:
    """What the user asked for.  See the module docstring for how it maps to rates.

    ``multi`` is ``--multi N`` (N >= 2; ``--exp K`` is :meth:`from_exp`), ``fps`` is ``--fps F``
    (text, int or Fraction; normalised to a Fraction), ``slowmo`` is ``--slowmo``.  With neither
    ``multi`` nor ``fps`` the default is ``multi=2``.  ``multi`` and ``fps`` together mean N
    times the frames written at F fps (with ``slowmo``: N times slower, written at F fps).
    """

    multi: int | None = None
    fps: Fraction | None = None
    slowmo: bool = False

    def __post_init__(self) -> None:
        if self.multi is not None and (
            isinstance(self.multi, bool) or not isinstance(self.multi, int) or self.multi < 2
        ):
            raise InputError(f"--multi must be an integer >= 2, got {self.multi!r}")
        if self.fps is not None:
            object.__setattr__(self, "fps", parse_rate(self.fps))  # type: ignore[arg-type]

    @classmethod
    def from_exp(cls, exp: int, *, fps: Fraction | None = None, slowmo: bool = False) -> RateSpec:
        """``--exp K``: ``multi = 2**K`` (K >= 1)."""
        if isinstance(exp, bool) or not isinstance(exp, int) or exp < 1:
            raise InputError(f"--exp must be an integer >= 1, got {exp!r}")
        return cls(multi=2**exp, fps=fps, slowmo=slowmo)

    @property
    def factor(self) -> int:
        """The multiplier/slow-down factor in effect (``multi`` or 2)."""
        return self.multi if self.multi is not None else 2


def output_rate(source_rate: Fraction, spec: RateSpec) -> tuple[Fraction, Fraction]:
    """Return ``(out_rate, tempo)`` for a source of nominal rate ``source_rate``.

    ``tempo`` is source seconds per output second: 1 normally, ``1/N`` for ``--slowmo``,
    ``F / (source_rate * N)`` for ``multi`` with ``fps``.
    """
    source_rate = parse_rate(source_rate) if not isinstance(source_rate, Fraction) else source_rate
    if source_rate <= 0:
        raise InputError(f"source frame rate must be positive, got {source_rate}")
    if spec.slowmo:
        out = spec.fps if spec.fps is not None else source_rate
        return out, Fraction(1, spec.factor)
    if spec.fps is not None and spec.multi is not None:
        return spec.fps, spec.fps / (source_rate * spec.multi)
    if spec.fps is not None:
        return spec.fps, Fraction(1)
    return source_rate * spec.factor, Fraction(1)


@dataclass(frozen=True)
class Step:
    """One output frame.

    ``time`` is ``index / out_rate`` exactly; ``src_time = time * tempo`` is measured from the
    first source frame.  The frame is ``lerp(left, right, t)`` with ``t`` in ``[0, 1)``;
    ``t == 0`` (then ``left == right``) means a source frame passed through untouched, which
    is also how frames past the last source frame are held.
    """

    index: int
    time: Fraction
    src_time: Fraction
    left: int
    right: int
    t: Fraction

    @property
    def is_source(self) -> bool:
        """True when this output frame is a source frame copied as is (no model call)."""
        return self.t == 0

    @property
    def nearest(self) -> int:
        """The source frame closest in time; what to show instead of interpolating across a
        scene cut (ties go to the later frame, which belongs to the new shot)."""
        return self.left if self.t < Fraction(1, 2) else self.right


@dataclass
class _Frame:
    index: int
    pts: Fraction  # relative to the first frame


@dataclass
class TimingPlan:
    """Streaming planner: feed source frames in order, get the output steps as they settle.

    Parameters
    ----------
    out_rate, tempo:
        From :func:`output_rate`.
    source_end:
        Absolute end of the source on its own timeline (e.g. container duration + start), if
        known; wins over ``last_frame_duration`` in :meth:`finish`.
    source_rate:
        Nominal source rate; ``1/source_rate`` is the default duration of the last frame.
        Without it (and without ``last_frame_duration``) the last frame lasts as long as the
        interval before it.
    tolerance:
        Timestamp jitter to absorb, in seconds (e.g. half the stream's time base for a
        23.976 fps MKV with 1 ms ticks).  A source frame within ``tolerance`` of an output
        instant is passed through at that instant instead of yielding ``t = 0.001``.  Must be
        less than half an output frame (on the source timeline).  Default 0: exact.

    Frames whose pts equals (within ``tolerance``) or precedes the previous kept frame's are
    ignored; their indices are recorded in :attr:`ignored` with a warning.  Decoders hand out
    frames in presentation order, so out-of-order pts mean a broken stream, and a frame that
    goes back in time cannot be placed after steps already emitted.
    """

    out_rate: Fraction
    tempo: Fraction = Fraction(1)
    source_end: Fraction | None = None
    source_rate: Fraction | None = None
    tolerance: Fraction = Fraction(0)
    origin: Fraction | None = None
    start_step: int = 0
    ignored: list[int] = field(default_factory=list, init=False)
    _origin: Fraction | None = field(default=None, init=False, repr=False)
    _prev: _Frame | None = field(default=None, init=False, repr=False)
    _prev_gap: Fraction | None = field(default=None, init=False, repr=False)
    _next: int = field(default=0, init=False, repr=False)
    _finished: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.out_rate = Fraction(self.out_rate)
        self.tempo = Fraction(self.tempo)
        self.tolerance = Fraction(self.tolerance)
        if self.out_rate <= 0:
            raise InputError(f"output frame rate must be positive, got {self.out_rate}")
        if self.tempo <= 0:
            raise InputError(f"tempo must be positive, got {self.tempo}")
        if self.source_rate is not None:
            self.source_rate = Fraction(self.source_rate)
            if self.source_rate <= 0:
                raise InputError(f"source frame rate must be positive, got {self.source_rate}")
        if self.source_end is not None:
            self.source_end = Fraction(self.source_end)
        # Output instants are every 1/(out_rate/tempo) seconds of source time.
        self._step = self.tempo / self.out_rate
        # A plan for one segment of a longer clip: source time 0 is ``origin`` (the clip's
        # first frame), and the first step handed out is ``start_step``.
        if self.origin is not None:
            self._origin = Fraction(self.origin)
        self._next = self.start_step
        if self.tolerance < 0 or self.tolerance * 2 >= self._step:
            raise InputError("timestamp tolerance must be >= 0 and below half an output frame")

    # -- helpers -------------------------------------------------------------------------
    def _src_time(self, k: int) -> Fraction:
        return k * self._step

    def _make(self, k: int, left: _Frame, right: _Frame) -> Step:
        st = self._src_time(k)
        if left is right or st <= left.pts + self.tolerance:
            t = Fraction(0)
            right = left
        else:
            t = (st - left.pts) / (right.pts - left.pts)
        return Step(k, k / self.out_rate, st, left.index, right.index, t)

    def _end(self) -> Fraction | None:
        """Relative end of the source if fixed in advance (``source_end``)."""
        if self.source_end is None or self._origin is None:
            return None
        return self.source_end - self._origin

    @property
    def emitted(self) -> int:
        """Number of output steps handed out so far."""
        return self._next

    # -- streaming API ---------------------------------------------------------------------
    def feed(self, index: int, pts: Fraction) -> list[Step]:
        """Add source frame ``index`` shown at ``pts`` (seconds, absolute); return the steps
        now fully determined: those with ``src_time`` before this frame (interpolated from the
        previous frame towards it) and the one landing on it, if any."""
        if self._finished:
            raise RuntimeError("TimingPlan.feed() after finish()")
        pts = Fraction(pts)
        if self._origin is None:
            self._origin = pts
        rel = pts - self._origin
        cur = _Frame(index, rel)
        end = self._end()
        prev = self._prev
        if prev is not None and rel <= prev.pts + self.tolerance:
            self.ignored.append(index)
            kind = "duplicate" if rel >= prev.pts else "out-of-order"
            log.warning(
                "ignoring source frame %d: %s timestamp %s (previous frame %d at %s)",
                index,
                kind,
                pts,
                prev.index,
                prev.pts + self._origin,
            )
            return []
        if end is not None and rel >= end:
            self.ignored.append(index)
            log.warning(
                "ignoring source frame %d at %s: past the source end %s",
                index,
                pts,
                self.source_end,
            )
            return []
        steps: list[Step] = []
        if prev is None:
            # First frame: only the step(s) landing on it (step 0 for a whole clip; for a
            # segment, its first step if that falls on this frame).
            while self._src_time(self._next) <= rel + self.tolerance:
                steps.append(self._make(self._next, cur, cur))
                self._next += 1
        else:
            while True:
                st = self._src_time(self._next)
                if end is not None and st >= end:
                    break
                if st < rel - self.tolerance:
                    steps.append(self._make(self._next, prev, cur))
                elif st <= rel + self.tolerance:
                    steps.append(self._make(self._next, cur, cur))
                else:
                    break
                self._next += 1
            self._prev_gap = rel - prev.pts
        self._prev = cur
        return steps

    def finish(self, last_frame_duration: Fraction | None = None,
               wrap_to: int | None = None) -> list[Step]:
        """No more source frames: return the remaining steps up to the end of the clip, all
        holding the last frame.  The end is ``source_end`` if given, else the last pts plus
        ``last_frame_duration``, else plus ``1/source_rate``, else plus the last interval
        (one output frame if there was a single source frame).

        ``wrap_to`` (a seamless loop): the clip's first frame, fed again under this index, is
        taken to follow the last one at the end of the clip, so the trailing steps are
        interpolated from the last frame towards it instead of holding the last frame."""
        if self._finished:
            return []
        self._finished = True
        last = self._prev
        if last is None:
            return []
        end = self._end()
        if end is None:
            if last_frame_duration is not None:
                dur = Fraction(last_frame_duration)
            elif self.source_rate is not None:
                dur = 1 / self.source_rate
            elif self._prev_gap is not None:
                dur = self._prev_gap
            else:
                dur = self._step
            if dur <= 0:
                raise InputError(f"last frame duration must be positive, got {dur}")
            end = last.pts + dur
        total = self.count_for(end)
        target = last if wrap_to is None else _Frame(wrap_to, end)
        steps = [self._make(k, last, target) for k in range(self._next, total)]
        self._next = max(self._next, total)
        return steps

    def first_step_at(self, rel: Fraction) -> int:
        """Index of the first output step at or after source time ``rel`` (within tolerance)."""
        return max(0, math.ceil((Fraction(rel) - self.tolerance) / self._step))

    def count_for(self, duration: Fraction) -> int:
        """Output frames for a source span of ``duration`` seconds: ``ceil(duration/step)``."""
        return max(0, math.ceil(Fraction(duration) / self._step))


def plan_steps(
    pts: Iterable[Fraction],
    out_rate: Fraction,
    tempo: Fraction = Fraction(1),
    *,
    source_rate: Fraction | None = None,
    last_frame_duration: Fraction | None = None,
    source_end: Fraction | None = None,
    tolerance: Fraction = Fraction(0),
) -> list[Step]:
    """Batch convenience: all steps for a list of source pts (frame ``i`` has ``pts[i]``)."""
    plan = TimingPlan(
        out_rate, tempo, source_end=source_end, source_rate=source_rate, tolerance=tolerance
    )
    steps: list[Step] = []
    for i, p in enumerate(pts):
        steps.extend(plan.feed(i, p))
    steps.extend(plan.finish(last_frame_duration))
    return steps
