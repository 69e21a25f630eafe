"""Hostile values for the rate maths: every answer is a positive exact rate or an InputError
(a one-line exit 2 in the CLI), never another exception."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluidframes.errors import InputError
from fluidframes.timing import (
    STANDARD_RATES,
    RateSpec,
    TimingPlan,
    dominant_rate,
    output_rate,
    parse_rate,
    snap_rate,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

rate_texts = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A\s*\d{0,6}(\.\d{0,6})?\s*(/\s*\d{0,6}(\.\d{0,6})?\s*)?\Z"),
    st.integers(min_value=1, max_value=20_000).map(lambda n: "9" * n),  # past int's digit limit
    st.integers(min_value=1, max_value=6_000).map(lambda n: "1/" + "3" * n),
    st.integers(min_value=1, max_value=6_000).map(lambda n: "0." + "0" * n + "1"),
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "0/0", "1/0", "1e3", "60fps", "½",
                     "\u0661\u0662", "60\x00", "59.94", "23.976", "60000/1001", " 25 "]),
)
any_value = st.one_of(rate_texts, st.integers(), st.floats(allow_nan=True),
                      st.fractions(), st.booleans(), st.none(), st.lists(st.integers()))
positive = st.fractions(min_value=Fraction(1, 10**6), max_value=10**6).filter(lambda f: f > 0)


@FAST
@given(any_value)
def test_parse_rate_gives_a_positive_fraction_or_input_error(value) -> None:
    try:
        rate = parse_rate(value)
    except InputError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    assert isinstance(rate, Fraction) and rate > 0


@FAST
@given(any_value, st.one_of(st.integers(), st.booleans(), st.floats(), st.none()),
       st.booleans(), positive)
def test_rate_spec_and_output_rate(fps, multi, slowmo, source) -> None:
    try:
        spec = RateSpec(multi=multi, fps=fps, slowmo=slowmo)
        out, tempo = output_rate(source, spec)
    except InputError:
        return
    assert out > 0 and tempo > 0
    if slowmo:
        assert tempo == Fraction(1, spec.factor) and tempo <= Fraction(1, 2)
    elif spec.fps is None:
        assert out == source * spec.factor and tempo == 1
    elif spec.multi is None:
        assert out == spec.fps and tempo == 1
    else:  # N times the frames written at F fps (the research scripts' --exp K --fps F)
        assert out == spec.fps and tempo == spec.fps / (source * spec.multi)


@FAST
@given(positive)
def test_snap_rate_stays_close(rate) -> None:
    snapped = snap_rate(rate)
    assert snapped > 0
    assert abs(snapped - rate) <= rate / 200  # within 0.5 %, standard or not
    if snapped in STANDARD_RATES:
        assert abs(snapped - rate) <= snapped / 200


@FAST
@given(st.lists(st.fractions(min_value=-10**6, max_value=10**6), max_size=60),
       st.fractions(min_value=0, max_value=1))
def test_dominant_rate_lies_within_the_measured_rates(times, tick) -> None:
    rate = dominant_rate(times, tick)
    steps = sorted(b - a for a, b in zip(sorted(set(times)), sorted(set(times))[1:]))
    if not steps:
        assert rate is None
        return
    lo, hi = 1 / steps[-1], 1 / steps[0]
    assert lo * Fraction(199, 200) <= rate <= hi * Fraction(201, 200)


@FAST
@given(st.fractions(min_value=Fraction(1, 1000), max_value=1000).filter(lambda f: f > 0),
       st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(1, 3), Fraction(2)]),
       st.lists(st.fractions(min_value=0, max_value=5), min_size=1, max_size=30))
def test_plan_counts_match_the_span(out_rate, tempo, pts) -> None:
    try:
        plan = TimingPlan(out_rate, tempo, source_rate=Fraction(24))
    except InputError:
        return
    steps = []
    for i, p in enumerate(sorted(set(pts))):
        steps += plan.feed(i, p)
    steps += plan.finish()
    span = max(pts) - min(pts) + Fraction(1, 24)
    assert len(steps) == math.ceil(span / tempo * out_rate)
    assert [s.index for s in steps] == list(range(len(steps)))
