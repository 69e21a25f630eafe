"""Hypothesis-driven option values for the API and the CLI.

Every value of every option the user may give, hostile or not, gets a right answer: accepted
(the API plans the run; the CLI runs it and writes a complete output) or refused with one line
(InputError / exit 2, nothing written). Never another exception, never a traceback, never exit 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _corpus import record
from _media import ffmpeg, needs_ffmpeg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fluidframes.cli import main
from fluidframes.errors import InputError
from fluidframes.options import ModelConfig, RunOptions, VideoOptions
from fluidframes.pipeline import plan_run

pytestmark = needs_ffmpeg

#: Options left out of the value fuzz, and why: they choose *where* work happens (Ray workers,
#: a cluster, CPU threads of this process, a folder anywhere on disk) or fetch weights (a zoo
#: model); their bounds are covered in tests/unit/test_options.py.
NOT_FUZZED = {"workers", "ray_address", "threads", "work_root", "model", "model_file",
              "device", "resume"}
NAMES = sorted(n for n in {**ModelConfig.specs(), **VideoOptions.specs()} if n not in NOT_FUZZED)
SPECS = {**ModelConfig.specs(), **VideoOptions.specs()}

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1", "2", "64", "65", "1e20", "1e-20",
                     "99999999999999999999", "0.5", "1/0", "0/0", "60000/1001", "true", "no",
                     "mp4", "gif", "avi", "libx264", "yuv420p", "yuv444p", "rgb48le", "slow",
                     "fp16", "bf16", "half", "eager", " ", "\x00", "4", "0.075", "9" * 400]),
)
hostile = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and len(text) < 300, text


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=32x24:rate=24", "-frames:v", "6",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


@settings(FUZZ, max_examples=400)
@given(st.dictionaries(st.sampled_from(NAMES), hostile, min_size=1, max_size=3))
def test_api_options_are_accepted_or_refused_in_one_line(tmp_path_factory, clip, values):
    case = repr(values)[:200]
    try:
        options = RunOptions.from_kwargs(**values)
    except InputError as exc:
        record("api-values", case, 2, [str(exc)])
        _one_line(exc)
        return
    except Exception:
        record("api-values", case, 1, [], traceback=True)
        raise
    out = tmp_path_factory.mktemp("out") / "o.mp4"
    try:
        plan = plan_run(clip, out, options)
    except InputError as exc:  # a rule that needs the input (encoder, pixel format, length)
        record("api-values", case, 2, [str(exc)])
        _one_line(exc)
        return
    except Exception:
        record("api-values", case, 1, [], traceback=True)
        raise
    record("api-values", case, 0, [], correct=bool(plan.total and plan.total > 0
                                                   and not out.exists()))
    assert plan.out_rate > 0 and plan.tempo > 0 and plan.total and plan.total > 0
    assert not out.exists()  # planning writes nothing


def _cli_value(value) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@example(values={"montage": True})  # found here: the label did not fit a 32x24 frame
@example(values={"preset": "?"})  # found here: x264 printed its own line before ours
@given(st.dictionaries(st.sampled_from(NAMES), hostile, min_size=1, max_size=2))
def test_cli_options_exit_0_with_output_or_2_with_one_line(tmp_path_factory, clip, model_file,
                                                           capfd, values):
    out = tmp_path_factory.mktemp("out") / "o.mp4"
    argv = ["interpolate", str(clip), "-o", str(out), "--model-file", model_file, "--quiet"]
    for name, value in values.items():
        s = SPECS[name]
        flag = s.flag or "--" + name.replace("_", "-")
        if s.kind == "bool":
            argv.append(flag)  # a switch: given or not
        else:
            argv.append(f"{flag}={_cli_value(value)}")  # '=': a value may start with '-'
    capfd.readouterr()
    rc = main(argv)
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]  # native output too
    record("cli-values", " ".join(argv[6:])[:200], rc, err,
           correct=out.exists() if rc == 0 else None,
           traceback=any("Traceback" in ln or "internal error" in ln for ln in err))
    assert not any("Traceback" in ln or "internal error" in ln for ln in err), err
    if rc == 0:
        assert out.exists(), argv
    else:
        assert rc == 2, (argv, err)
        assert len(err) == 1 and err[0].startswith("fluidframes: error:"), (argv, err)
        assert not out.exists() and list(out.parent.iterdir()) == []
