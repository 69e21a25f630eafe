"""The options model: one coercion and one set of bounds for every way a value arrives."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields
from fractions import Fraction

import pytest

from fluidframes import options as O
from fluidframes.errors import InputError


def test_every_option_has_help_a_kind_and_a_sane_default():
    for cls in (O.ModelConfig, O.VideoOptions):
        for f in fields(cls):
            spec = f.metadata["spec"]
            assert spec.help and spec.kind in {"int", "float", "rate", "time", "bool", "str",
                                               "choice", "path", "device"}, f.name
            if f.default is not None:
                assert O.coerce(f.name, spec, f.default) == f.default, f.name


@pytest.mark.parametrize("name,value,expect", [
    ("multi", "4", 4), ("multi", 4, 4), ("multi", " 64 ", 64), ("exp", "6", 6),
    ("fps", "59.94", Fraction(60000, 1001)), ("fps", 60, Fraction(60)),
    ("fps", "60000/1001", Fraction(60000, 1001)), ("slowmo", "on", True), ("slowmo", False, False),
    ("scene_threshold", "0.2", 0.2), ("segment_seconds", "0", 0.0), ("crf", "0", 0),
    ("start", "12.5", Fraction(25, 2)), ("start", "1:02.5", Fraction(125, 2)),
    ("start", "01:00:00.040", Fraction(90001, 25)), ("start", 2.1, Fraction(21, 10)),
    ("start", "0", 0), ("duration", "25/2", Fraction(25, 2)), ("duration", 4, 4),
    ("gif_fps_max", "33.3", Fraction(333, 10)), ("gif_dither", "bayer", "bayer"),
])
def test_good_values(name, value, expect):
    assert O.coerce(name, O.VideoOptions.specs()[name], value) == expect


@pytest.mark.parametrize("name,value", [
    ("multi", "2.5"), ("multi", 2.5), ("multi", True), ("multi", "65"), ("multi", "x"),
    ("multi", "1e3"), ("exp", "0"), ("exp", "7"), ("fps", "-5"), ("fps", "1/0"), ("fps", "inf"),
    ("fps", "1001"), ("scene_threshold", "inf"), ("scene_threshold", math.nan),
    ("scene_threshold", "0"), ("crf", "-1"), ("crf", "64"), ("segment_seconds", "0.01"),
    ("segment_seconds", "nan"), ("slowmo", "maybe"), ("audio", "loud"), ("workers", "0"),
    ("start", "-1"), ("start", "1:60"), ("start", "1:60:00"), ("start", "abc"), ("start", True),
    ("start", math.inf), ("start", "360001"), ("duration", "0"), ("duration", "1/0"),
    ("gif_fps_max", "101"), ("gif_dither", "ordered"), ("gif_palette", "global"),
    ("gif_width", "8"),
])
def test_bad_values_are_input_errors_with_one_line(name, value):
    with pytest.raises(InputError) as exc:
        O.coerce(name, O.VideoOptions.specs()[name], value)
    assert str(exc.value).startswith(name) and "\n" not in str(exc.value)


@pytest.mark.parametrize("kw,needle", [
    ({"scale": 3}, "scale must be one of"), ({"precision": "fp8"}, "precision must be one of"),
    ({"device": "tpu"}, "device must be one of"), ({"device": "cuda:x"}, "device"),
    ({"threads": 0}, "threads must be"), ({"backend": "tensorrt"}, "backend must be"),
    ({"model": "rife-9000"}, "unknown model"),
])
def test_model_config_rules(kw, needle):
    with pytest.raises(Exception, match=needle) as exc:
        O.ModelConfig.from_kwargs(**kw)
    assert getattr(exc.value, "exit_code", None) == 2


def test_rules_between_fields():
    with pytest.raises(InputError, match="either multi or exp"):
        O.VideoOptions.from_kwargs(multi=2, exp=2)
    # multi with fps: N times the frames written at F fps (the research scripts' --exp --fps)
    from fluidframes.timing import output_rate

    spec = O.VideoOptions.from_kwargs(exp=2, fps=60).rate_spec()
    assert output_rate(Fraction(30), spec) == (Fraction(60), Fraction(1, 2))
    assert O.VideoOptions.from_kwargs(multi=4, fps=30, slowmo=True).rate_spec().factor == 4
    with pytest.raises(InputError, match="unknown option"):
        O.RunOptions.from_kwargs(multiplier=2)


def test_cli_flags_round_trip():
    p = argparse.ArgumentParser()
    O.add_arguments(p, O.VideoOptions)
    O.add_arguments(p, O.ModelConfig)
    args = p.parse_args(["--multi", "3", "--no-scene-detect", "--scale", "0.5", "--crf", "20",
                         "--model-file", "x.pkl", "--no-subtitles"])
    o = O.RunOptions.from_namespace(args)
    assert (o.video.multi, o.video.scene_detect, o.video.crf, o.video.keep_subtitles) == (
        3, False, 20, False)
    assert (o.model.scale, o.model.model_file, o.model.name) == (0.5, "x.pkl", "x.pkl")
    # unset flags keep the dataclass defaults
    assert o.video.segment_seconds == 10.0 and o.model.precision == "auto"
    assert O.RunOptions.from_namespace(p.parse_args([])) == O.RunOptions().__class__(
        O.ModelConfig().validated(), O.VideoOptions().validated())


def test_web_form_and_schema_come_from_the_same_specs():
    schema = O.json_schema()
    web = O.web_fields()
    assert set(schema) == set(web)
    assert {"multi", "fps", "scale", "scene_threshold", "crf"} <= set(schema)
    assert not {"model_file", "threads", "device", "workers", "ray_address"} & set(schema)
    assert schema["multi"]["minimum"] == 2 and schema["multi"]["maximum"] == O.MAX_MULTI
    assert schema["scale"]["enum"] == list(O.SCALES)
    assert O.parse_form({"multi": "3", "no_scene_detect": "true"}) == {
        "multi": 3, "scene_detect": False}
    with pytest.raises(InputError, match="disagree"):
        O.parse_form({"scene_detect": "true", "no_scene_detect": "true"})
    with pytest.raises(InputError, match="unknown field"):
        O.parse_form({"threads": "2"})


def test_output_key_ignores_how_not_what():
    a = O.RunOptions.from_kwargs(multi=2, threads=1, workers=2, device="cpu")
    b = O.RunOptions.from_kwargs(multi=2)
    assert a.output_key() == b.output_key()
    assert a.output_key() != O.RunOptions.from_kwargs(multi=3).output_key()
    # where the checkpoints live is not part of what a resume must match
    assert O.RunOptions.from_kwargs(multi=2, work_root="/tmp/w").output_key() == b.output_key()
    assert "allow_partial" in b.output_key()
    assert a.output_key() != O.RunOptions.from_kwargs(multi=2, scale=0.5).output_key()


def test_output_length_bounded_before_work(tmp_path, monkeypatch, model_file):
    from PIL import Image

    from fluidframes.pipeline import interpolate_video

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        Image.new("RGB", (32, 32), (40 * i, 0, 0)).save(folder / f"{i:03d}.png")
    monkeypatch.setattr(O, "MAX_OUTPUT_FRAMES", 10)
    with pytest.raises(InputError, match="would have 12 frames"):
        interpolate_video(folder, tmp_path / "o.mp4", multi=2, model_file=model_file)
    assert not (tmp_path / "o.mp4").exists()


def test_quality_presets_fill_only_what_is_not_given():
    from fluidframes.options import ModelConfig

    fast = ModelConfig.from_kwargs(quality="fast")
    assert (fast.model, fast.scale, fast.precision) == ("rife-4.6", 0.5, "auto")
    best = ModelConfig.from_kwargs(quality="best")
    assert (best.model, best.precision, best.scale) == ("rife-ensemble-max", "fp32", 1.0)
    # a value given is kept, also when it is what the option would be without a preset
    assert ModelConfig.from_kwargs(quality="fast", scale="1").scale == 1.0
    assert ModelConfig.from_kwargs(quality="best", precision="auto").precision == "auto"
    assert ModelConfig.from_kwargs(quality="fast", model="rife-4.25").model == "rife-4.25"
    assert ModelConfig.from_kwargs(quality="fast", model_file="x.pkl").model is None
    plain = ModelConfig.from_kwargs()
    assert (plain.model, plain.precision, plain.scale) == (None, "auto", 1.0)
    assert ModelConfig().validated() == plain
