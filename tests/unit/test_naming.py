"""Output names: the trim marker, and the pattern that recognises our names (batch skips)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from fluidframes.naming import default_output, is_our_output


def _name(**kw) -> str:
    base = dict(image_sequence=False, out_rate=Fraction(50), factor=Fraction(2), slowmo=False,
                png=False)
    return default_output(Path("/v/clip.mp4"), **{**base, **kw}).name


def test_trimmed_names_say_which_part():
    assert _name() == "clip_2X_50fps.mp4"
    assert _name(window=(Fraction(25, 2), Fraction(33, 2))) == "clip_2X_50fps_12.5s-16.5s.mp4"
    assert _name(window=(Fraction(0), Fraction(1, 24)), ext="gif") == "clip_2X_50fps_0s-0.042s.gif"
    assert _name(window=(Fraction(3), Fraction(4)), slowmo=True,
                 out_rate=Fraction(25)) == "clip_2X_slowmo_25fps_3s-4s.mp4"


def test_our_trimmed_outputs_are_recognised():
    assert is_our_output(Path("clip_2X_50fps_12.5s-16.5s.mp4"))
    assert is_our_output(Path("clip_4X_slowmo_25fps_0s-1s.gif"))
    assert not is_our_output(Path("holiday_12.5s-16.5s.mp4"))
    assert not is_our_output(Path("clip_2X_50fps_12.5s.mp4"))
