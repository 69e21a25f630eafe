"""Tests for fluidframes.timing: exact rational output timing."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fluidframes.errors import InputError
from fluidframes.timing import RateSpec, Step, TimingPlan, output_rate, parse_rate, plan_steps

# ---------------------------------------------------------------------------------- parse_rate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60", F(60)),
        ("25", F(25)),
        ("59.94", F(60000, 1001)),
        ("23.976", F(24000, 1001)),
        ("23.98", F(24000, 1001)),
        ("29.97", F(30000, 1001)),
        ("119.88", F(120000, 1001)),
        ("60000/1001", F(60000, 1001)),
        (" 24000 / 1001 ", F(24000, 1001)),
        ("12.5", F(25, 2)),
        ("30/1.001", F(30000, 1001)),
        (F(50), F(50)),
        (48, F(48)),
    ],
)
def test_parse_rate_ok(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "0", "-5", "0/1", "60/0", "1e3", "60fps", "nan", True, 1.5]
)
def test_parse_rate_bad(text):
    with pytest.raises(InputError):
        parse_rate(text)


# ---------------------------------------------------------------------------------- RateSpec


def test_ratespec_validation_and_exp():
    assert RateSpec.from_exp(2).multi == 4
    assert RateSpec(fps="59.94").fps == F(60000, 1001)
    for bad in ({"multi": 1}, {"multi": 0}, {"multi": 2.5}):
        with pytest.raises(InputError):
            RateSpec(**bad)
    with pytest.raises(InputError):
        RateSpec.from_exp(0)
    RateSpec(multi=4, fps=F(60), slowmo=True)  # allowed: factor + playback rate
    # multi + fps: N times the frames at F fps (the research scripts' --exp 2 --fps 60)
    assert output_rate(F(30), RateSpec(multi=4, fps=F(60))) == (F(60), F(1, 2))
    assert output_rate(F(30), RateSpec(multi=4, fps=F(60), slowmo=True)) == (F(60), F(1, 4))


def test_output_rate_modes():
    r = F(24000, 1001)
    assert output_rate(r, RateSpec()) == (2 * r, 1)
    assert output_rate(r, RateSpec(multi=3)) == (3 * r, 1)
    assert output_rate(r, RateSpec(fps=F(60))) == (F(60), 1)
    assert output_rate(r, RateSpec(slowmo=True)) == (r, F(1, 2))
    assert output_rate(r, RateSpec(multi=4, slowmo=True)) == (r, F(1, 4))
    assert output_rate(r, RateSpec(fps=F(60), slowmo=True)) == (F(60), F(1, 2))


# ---------------------------------------------------------------------------------- helpers


def cfr(n: int, rate: F) -> list[F]:
    return [i / rate for i in range(n)]


def check_invariants(steps: list[Step], pts: list[F], out_rate: F, tempo: F = F(1)) -> None:
    """Properties that hold for every plan."""
    rel = [p - pts[0] for p in pts]
    assert [s.index for s in steps] == list(range(len(steps)))
    assert steps[0].left == steps[0].right == 0 and steps[0].t == 0 and steps[0].time == 0
    for s in steps:
        assert s.time == s.index / out_rate
        assert s.src_time == s.time * tempo
        assert 0 <= s.t < 1
        assert (s.left == s.right) == (s.t == 0)
        if s.t:
            assert s.right == s.left + 1
            assert rel[s.left] < s.src_time < rel[s.right]
            assert s.t == (s.src_time - rel[s.left]) / (rel[s.right] - rel[s.left])
        elif s.src_time >= rel[-1]:
            assert s.left == len(pts) - 1  # held last frame
        else:
            assert rel[s.left] == s.src_time
    times = [s.time for s in steps]
    assert all(a < b for a, b in itertools.pairwise(times))


rates = st.one_of(
    st.sampled_from(
        [F(24000, 1001), F(24), F(25), F(30000, 1001), F(30), F(50), F(60000, 1001), F(60), F(120)]
    ),
    # any rational between 1 and 240 fps
    st.integers(1, 1001).flatmap(lambda d: st.builds(F, st.integers(d, 240 * d), st.just(d))),
)


# ---------------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(src=rates, out=rates, n=st.integers(1, 40))
def test_cfr_any_rate_pair(src: F, out: F, n: int):
    pts = cfr(n, src)
    steps = plan_steps(pts, out, source_rate=src)
    check_invariants(steps, pts, out)
    duration = n / src
    assert len(steps) == math.ceil(duration * out)
    # output duration equals input duration within one output frame (never shorter)
    assert 0 <= len(steps) / out - duration < 1 / out
    if out >= src:  # every source frame contributes
        used = {s.left for s in steps} | {s.right for s in steps}
        assert used == set(range(n))


@settings(max_examples=60, deadline=None)
@given(src=rates, multi=st.integers(2, 8), n=st.integers(1, 30))
def test_multi_cfr_exact(src: F, multi: int, n: int):
    out, tempo = output_rate(src, RateSpec(multi=multi))
    steps = plan_steps(cfr(n, src), out, tempo, source_rate=src)
    assert len(steps) == multi * n  # duration kept: last frame held for the trailing slots
    for s in steps:
        k = s.index % multi
        assert s.t == (F(k, multi) if s.index < multi * (n - 1) else 0)
        # every source frame passes through untouched at its own instant
        if k == 0:
            assert s.left == s.right == s.index // multi and s.t == 0
    assert [s.left for s in steps[-multi:]] == [n - 1] * multi


@pytest.mark.parametrize(("src", "out"), [(F(24000, 1001), F(60)), (F(25), F(60)), (F(30), F(120))])
def test_classic_conversions_long(src, out):
    n = 2000  # ~80 s: exact, no drift
    steps = plan_steps(cfr(n, src), out, source_rate=src)
    check_invariants(steps, cfr(n, src), out)
    assert len(steps) == math.ceil(n / src * out)


def test_24_to_60_pattern():
    src = F(24)
    steps = plan_steps(cfr(4, src), F(60), source_rate=src)
    assert len(steps) == 10
    assert [s.t for s in steps[:6]] == [0, F(2, 5), F(4, 5), F(1, 5), F(3, 5), 0]
    assert [(s.left, s.right) for s in steps[:6]] == [
        (0, 0),
        (0, 1),
        (0, 1),
        (1, 2),
        (1, 2),
        (2, 2),
    ]


@settings(max_examples=60, deadline=None)
@given(multi=st.integers(2, 6), n=st.integers(1, 30), src=rates)
def test_slowmo_counts(multi: int, n: int, src: F):
    out, tempo = output_rate(src, RateSpec(multi=multi, slowmo=True))
    assert out == src
    steps = plan_steps(cfr(n, src), out, tempo, source_rate=src)
    assert len(steps) == multi * n
    check_invariants(steps, cfr(n, src), out, tempo)
    assert steps[-1].time + 1 / out == multi * n / src  # output lasts N times longer


def test_slowmo_with_fps():
    src = F(24)
    out, tempo = output_rate(src, RateSpec(fps=F(60), slowmo=True))
    steps = plan_steps(cfr(24, src), out, tempo, source_rate=src)
    assert len(steps) == 120  # 1 s of source, 2x slower, at 60 fps


# ---------------------------------------------------------------------------------- VFR


vfr_gaps = st.lists(
    st.builds(F, st.integers(1, 120), st.sampled_from([1000, 1001, 90000, 48])),
    min_size=0,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    gaps=vfr_gaps,
    out=rates,
    start=st.builds(F, st.integers(0, 10**6), st.just(90000)),
    last=st.builds(F, st.integers(1, 100), st.just(1000)),
)
def test_vfr_properties(gaps, out, start, last):
    pts = [start]
    for g in gaps:
        pts.append(pts[-1] + g)
    steps = plan_steps(pts, out, last_frame_duration=last)
    check_invariants(steps, pts, out)
    duration = pts[-1] - pts[0] + last
    assert len(steps) == math.ceil(duration * out)
    # every frame whose interval holds an output instant is used; with every gap >= one
    # output frame, that is every frame
    if all(g >= 1 / out for g in gaps) and last >= 1 / out:
        used = {s.left for s in steps} | {s.right for s in steps}
        assert used == set(range(len(pts)))


def test_vfr_uses_real_timestamps():
    # 3 frames at 0, 0.1, 0.4 (VFR), 20 fps output
    pts = [F(0), F(1, 10), F(4, 10)]
    steps = plan_steps(pts, F(20), last_frame_duration=F(1, 10))
    assert len(steps) == 10
    assert [(s.left, s.right, s.t) for s in steps[:5]] == [
        (0, 0, 0),
        (0, 1, F(1, 2)),
        (1, 1, 0),
        (1, 2, F(1, 6)),
        (1, 2, F(1, 3)),
    ]
    assert all(s.left == s.right == 2 for s in steps[8:])


@settings(max_examples=80, deadline=None)
@given(gaps=vfr_gaps, out=rates, tempo=st.sampled_from([F(1), F(1, 2), F(1, 3), F(2)]))
def test_streaming_equals_batch(gaps, out, tempo):
    pts = [F(0)]
    for g in gaps:
        pts.append(pts[-1] + g)
    batch = plan_steps(pts, out, tempo, last_frame_duration=F(1, 25))
    plan = TimingPlan(out, tempo)
    streamed: list[Step] = []
    for i, p in enumerate(pts):
        got = plan.feed(i, p)
        # only steps at or before this frame are released
        assert all(s.src_time <= p - pts[0] for s in got)
        streamed.extend(got)
    streamed.extend(plan.finish(F(1, 25)))
    assert streamed == batch
    # knowing the end up front gives the same plan
    assert plan_steps(pts, out, tempo, source_end=pts[-1] + F(1, 25)) == batch


def test_duplicate_and_backwards_pts_ignored(caplog):
    plan = TimingPlan(F(50), source_rate=F(25))
    steps = plan.feed(0, F(0)) + plan.feed(1, F(1, 25))
    assert plan.feed(2, F(1, 25)) == []  # duplicate timestamp
    assert plan.feed(3, F(1, 50)) == []  # goes back in time
    steps += plan.feed(4, F(2, 25)) + plan.finish()
    assert plan.ignored == [2, 3]
    assert "duplicate" in caplog.text and "out-of-order" in caplog.text
    assert len(steps) == 6 and {s.left for s in steps} == {0, 1, 4}


def test_gaps_in_index_allowed():
    """The pipeline may drop duplicate frames; the plan interpolates across the gap."""
    steps = plan_steps([F(0), F(2, 25)], F(50), last_frame_duration=F(1, 25))
    plan = TimingPlan(F(50), source_rate=F(25))
    s = plan.feed(0, F(0)) + plan.feed(2, F(2, 25)) + plan.finish()
    assert [(x.left, x.right, x.t) for x in s] == [
        (0, 0, 0),
        (0, 2, F(1, 4)),
        (0, 2, F(1, 2)),
        (0, 2, F(3, 4)),
        (2, 2, 0),
        (2, 2, 0),
    ]
    assert len(steps) == len(s)


def test_tolerance_snaps_ms_timebase():
    # 23.976 fps in a 1 ms time base (MKV): pts rounded to whole milliseconds
    src = F(24000, 1001)
    pts = [F(round(i / src * 1000), 1000) for i in range(48)]
    steps = plan_steps(pts, 2 * src, source_rate=src, tolerance=F(1, 2000))
    assert len(steps) == 96
    assert [s.is_source for s in steps[:-2]] == [i % 2 == 0 for i in range(94)]
    assert all(F(2, 5) < s.t < F(3, 5) for s in steps[1:-2:2])
    with pytest.raises(InputError):
        TimingPlan(F(60), tolerance=F(1, 100))


def test_single_frame_and_empty():
    assert plan_steps([], F(60)) == []
    steps = plan_steps([F(5)], F(50), source_rate=F(25))
    assert [(s.left, s.right, s.t, s.time) for s in steps] == [(0, 0, 0, 0), (0, 0, 0, F(1, 50))]


def test_step_helpers():
    s = Step(3, F(3, 50), F(3, 50), 1, 2, F(1, 2))
    assert not s.is_source and s.nearest == 2
    assert Step(1, F(1, 50), F(1, 50), 0, 1, F(1, 4)).nearest == 0


def test_feed_after_finish():
    plan = TimingPlan(F(30))
    plan.feed(0, F(0))
    plan.finish()
    assert plan.finish() == []
    with pytest.raises(RuntimeError):
        plan.feed(1, F(1))
