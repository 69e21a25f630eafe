"""The same bad value gets the same one-line error from the CLI, the Python API and the web API.

All three validate through fluidframes.options, before any work: the API raises InputError
before the input is even probed, the CLI exits 2 with that line, the web API answers 400 with
it and creates no job.
"""

from __future__ import annotations

import pytest
from _serverkit import submit

from fluidframes import interpolate_video
from fluidframes.cli import main
from fluidframes.errors import InputError

# (field, value as typed, the message)
CASES = [
    ("multi", "1000000", "multi must be a whole number from 2 to 64, got 1000000"),
    ("multi", "99999999999999999999",
     "multi must be a whole number from 2 to 64, got 99999999999999999999"),
    ("multi", "1", "multi must be a whole number from 2 to 64, got 1"),
    ("exp", "64", "exp must be a whole number from 1 to 6, got 64"),
    ("fps", "0", "fps must be a frame rate above 0 and at most 1000 (e.g. 60, 59.94, "
                 "60000/1001), got 0"),
    ("fps", "5000", "fps must be a frame rate above 0 and at most 1000 (e.g. 60, 59.94, "
                    "60000/1001), got 5000"),
    ("scale", "3", "scale must be one of 0.25, 0.5, 1, 2, 4, got 3"),
    ("scene_threshold", "nan", "scene_threshold must be a number from 0.001 to 1, got nan"),
    ("scene_threshold", "-1", "scene_threshold must be a number from 0.001 to 1, got -1"),
    ("crf", "99", "crf must be a whole number from 0 to 63, got 99"),
    ("segment_seconds", "-1", "segment_seconds must be a number 0 or from 0.1 to 86400, got -1"),
    ("threads", "0", "threads must be a whole number from 1 to 1024, got 0"),
    ("start", "1:75", "start must be a time in seconds or HH:MM:SS(.fff) from 0 to 360000, "
                      "got 1:75"),
    ("start", "-2", "start must be a time in seconds or HH:MM:SS(.fff) from 0 to 360000, "
                    "got -2"),
    ("duration", "0", "duration must be a time in seconds or HH:MM:SS(.fff) from 0.001 to "
                      "360000, got 0"),
    ("gif_dither", "ordered", "gif_dither must be one of bayer, sierra2_4a, sierra2, "
                              "floyd_steinberg, none, got ordered"),
    ("gif_fps_max", "200", "gif_fps_max must be a frame rate above 0 and at most 100 (e.g. 60, "
                           "59.94, 60000/1001), got 200"),
]
#: Machine-level options a request may not set; the server's own flag gives the same message.
SERVER_FLAGS = {"threads"}


def _api_value(text: str):
    """The value as a Python caller would pass it (a number where it is one)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


@pytest.mark.parametrize("name,value,message", CASES)
def test_cli_api_and_web_agree(tmp_path, clip, model_file, make_client, capsys, name, value,
                               message):
    out = tmp_path / "out.mp4"
    # CLI
    rc = main(["interpolate", str(clip), "-o", str(out), "--model-file", str(model_file),
               "--quiet", f"--{name.replace('_', '-')}", value])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err == f"fluidframes: error: {message}"
    # Python API (the value as a number where it is one), before the input is looked at
    with pytest.raises(InputError) as exc:
        interpolate_video(tmp_path / "does-not-exist.mp4", out, model_file=str(model_file),
                          **{name: _api_value(value)})
    assert str(exc.value) == message
    assert not out.exists()
    # web API: 400 with the same line, no job created; machine-level options via `serve`
    if name in SERVER_FLAGS:
        rc = main(["serve", f"--{name}", value, "--data", str(tmp_path / "d"), "--port", "1"])
        assert rc == 2 and capsys.readouterr().err.strip() == f"fluidframes: error: {message}"
        return
    client = make_client()
    with open(clip, "rb") as fh:
        r = client.post("/api/jobs", files={"file": ("c.mp4", fh, "video/mp4")},
                        data={name: value})
    assert r.status_code == 400
    assert r.json() == {"detail": message, "field": name}  # the page points at the field
    assert client.get("/api/jobs").json() == []


def test_web_refuses_machine_level_fields(client, clip):
    with open(clip, "rb") as fh:
        r = client.post("/api/jobs", files={"file": ("c.mp4", fh, "video/mp4")},
                        data={"threads": "4", "model_file": "/etc/passwd"})
    assert r.status_code == 400 and "unknown field(s): model_file, threads" in r.json()["detail"]


def test_good_values_still_accepted(client, clip):
    job = submit(client, clip, multi=3, scene_threshold="0.1", crf=20, segment_seconds=0)
    assert job["options"]["multi"] == 3 and job["options"]["scene_threshold"] == 0.1
    job = submit(client, clip, fps="59.94", slowmo="true")
    assert job["options"]["fps"] == "60000/1001" and job["options"]["slowmo"] is True
