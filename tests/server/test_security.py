"""The web app as an attacker and a careless client would use it: one test per point of the
security review (work per job, cancel at every stage, Origin null and cross-site requests, server
paths in responses, tokens in logs, NaN in JSON), plus the preview render's API."""

from __future__ import annotations

import errno
import json
import logging
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from _serverkit import submit, wait_for

from fluidframes.video.reader import probe


def _strict(text: str):
    """json.loads that refuses NaN and Infinity (as JSON.parse does)."""
    def bad(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=bad)


def _post(client, clip: Path, name: str = "c.mp4", headers=None, **fields):
    with open(clip, "rb") as fh:
        return client.post("/api/jobs", files={"file": (name, fh, "video/mp4")},
                           data={k: str(v) for k, v in fields.items()}, headers=headers or {})


def _nothing_stored(client) -> None:
    layout = client.app.state.layout
    assert client.get("/api/jobs").json() == []
    assert not list(layout.jobs.iterdir()) and not list(layout.uploads.iterdir())


# -- one request must not exhaust the server ------------------------------------------------------

@pytest.mark.parametrize("fields, message", [
    ({"multi": "1000000"}, "multi must be a whole number from 2 to 64, got 1000000"),
    ({"exp": "64"}, "exp must be a whole number from 1 to 6, got 64"),
    ({"fps": "1e9"}, "fps must be a frame rate above 0 and at most 1000"),
])
def test_huge_rates_refused_before_a_job_exists(client, clip, fields, message):
    r = _post(client, clip, **fields)
    assert r.status_code == 400 and r.json()["detail"].startswith(message)
    _nothing_stored(client)


def test_work_limits_per_job(make_client, clip):
    # 10 frames x2 = 20 output frames of 176x144 at 59.94 fps, 0.33 s of source
    c = make_client(max_output_frames=15, start_worker=False)
    r = _post(c, clip, multi=2)
    assert r.status_code == 400 and r.json() == {
        "detail": "the output would have 20 frames; this server makes at most 15 per job: ask "
                  "for a lower rate or multiplier, or a shorter video", "field": None}
    _nothing_stored(c)
    c = make_client(max_pixel_rate=2_000_000, start_worker=False)
    assert _post(c, clip, multi=2).status_code == 201  # 1.5 Mpx/s: inside
    r = _post(c, clip, multi=2, montage="true")  # twice the width: outside
    assert r.status_code == 400 and "megapixels per second" in r.json()["detail"]
    c = make_client(max_duration=0.2, start_worker=False)
    r = _post(c, clip, name="short.mp4")
    assert r.status_code == 400 and r.json()["detail"].startswith(
        "short.mp4 lasts 0:00; this server takes at most 0:00 of video per job")


def test_serve_flags_set_the_limits(tmp_path):
    import argparse

    from fluidframes.errors import InputError
    from fluidframes.server.cli import add_serve_command, config_from_args

    p = argparse.ArgumentParser()
    add_serve_command(p.add_subparsers())
    args = p.parse_args(["serve", "--data", str(tmp_path), "--max-output-frames", "500k",
                         "--max-pixel-rate", "1G", "--max-duration", "90m"])
    cfg = config_from_args(args)
    assert (cfg.max_output_frames, cfg.max_pixel_rate, cfg.max_duration) == (500_000, 1e9, 5400)
    default = config_from_args(p.parse_args(["serve", "--data", str(tmp_path)]))
    assert default.max_output_frames == 360_000 and default.max_duration == 7200
    with pytest.raises(InputError, match="--max-duration"):
        config_from_args(p.parse_args(["serve", "--max-duration", "nan"]))


def test_running_job_stopped_at_the_frame_limit(make_client, long_clip, monkeypatch):
    """A header that under-states the length cannot run past the limit: the runner counts."""
    from fluidframes.server import admission

    monkeypatch.setattr(admission, "check_work", lambda *a, **k: None)
    c = make_client(max_output_frames=30)
    job = submit(c, long_clip, multi=2)
    done = wait_for(c, job["id"], "failed", timeout=120)
    assert done["error"].startswith("stopped at 30 output frames, this server's limit per job")
    assert done["result"] is None


# -- cancel within a second or two, at any stage -------------------------------------------------

def _cancel_time(client, job_id: str) -> tuple[float, dict]:
    t0 = time.monotonic()
    r = client.post(f"/api/jobs/{job_id}/cancel")
    return time.monotonic() - t0, r.json()


def test_cancel_mid_render_of_a_huge_multiplier(client, long_clip):
    job = submit(client, long_clip, multi=64)  # 63 model frames per source pair
    wait_for(client, job["id"], "running", timeout=120,
             pred=lambda j: j["progress"]["frames_out"] > 0)
    took, answer = _cancel_time(client, job["id"])
    assert answer["status"] == "cancelled" and took < 2.0, (took, answer)
    assert not client.app.state.runner.is_running(job["id"])


def test_cancel_while_the_model_loads(make_client, clip, monkeypatch):
    from fluidframes.server.runner import ModelPool

    release = threading.Event()
    real_get = ModelPool.get

    def slow_get(self, model):  # a first download or a cold disk
        release.wait(30)
        return real_get(self, model)

    monkeypatch.setattr(ModelPool, "get", slow_get)
    c = make_client()
    job = submit(c, clip, multi=2)
    wait_for(c, job["id"], "running")
    time.sleep(0.3)
    took, answer = _cancel_time(c, job["id"])
    release.set()
    assert answer["status"] == "cancelled" and took < 2.0, (took, answer)


def test_cancel_during_the_preview_cut(tmp_path, long_clip):
    from fluidframes.errors import CancelledError
    from fluidframes.server.clip import cut

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        cut(long_clip, tmp_path / "clip.mp4", 1.0, 2.0, cancel)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# -- cross-origin: Origin null and missing origins ---------------------------------------------

def test_origin_null_and_cross_site_refused(client, clip):
    r = _post(client, clip, headers={"Origin": "null"})
    assert r.status_code == 403 and "Origin null" in r.json()["detail"]
    r = _post(client, clip, headers={"Sec-Fetch-Site": "cross-site"})  # a browser, no Origin
    assert r.status_code == 403 and "cross-site" in r.json()["detail"]
    r = _post(client, clip, headers={"Origin": "http://127.0.0.1.evil.example"})
    assert r.status_code == 403
    _nothing_stored(client)
    # the page itself (same origin) and a non-browser client (no Origin, no Sec-Fetch) may
    job = _post(client, clip, headers={"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"})
    assert job.status_code == 201
    assert _post(client, clip).status_code == 201
    jid = job.json()["id"]
    for method, path in (("POST", f"/api/jobs/{jid}/cancel"), ("DELETE", f"/api/jobs/{jid}"),
                         ("POST", f"/api/jobs/{jid}/rerun")):
        r = client.request(method, path, headers={"Origin": "null"})
        assert r.status_code == 403, (method, path)
    assert client.get(f"/api/jobs/{jid}").status_code == 200  # still there


def test_origin_null_refused_with_a_valid_token(make_client, clip):
    c = make_client(host="0.0.0.0", token="s3cret", start_worker=False)
    auth = {"Authorization": "Bearer s3cret"}
    assert _post(c, clip, headers={**auth, "Origin": "null"}).status_code == 403
    assert _post(c, clip, headers=auth).status_code == 201


# -- names, never server paths -----------------------------------------------------------------

@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audio") / "with sound.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "0.4",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(out)], check=True, timeout=120)
    return out


def _sse_text(client, url: str) -> str:
    lines = []
    with client.stream("GET", url) as r:
        it = r.iter_lines()
        for line in it:
            lines.append(line)
            if line.startswith("event: end") or line.startswith("event: deleted"):
                lines.append(next(it, ""))
                break
    return "\n".join(lines)


def test_responses_carry_names_not_paths(make_client, clip_with_audio, clip, tmp_path,
                                         monkeypatch):
    c = make_client()
    data_dir = str(c.app.state.layout.root)
    job = submit(c, clip_with_audio, multi=2)
    events = _sse_text(c, f"/api/jobs/{job['id']}/events")
    done = wait_for(c, job["id"], "done")
    sm = done["summary"]
    assert sm["input"] == "with sound.mp4" and sm["output"] == done["result"]["name"]
    assert sm["output"].startswith("with sound_2X_") and sm["audio"]["audio_streams"] == 1
    assert "path" not in sm["audio"]

    from fluidframes import pipeline
    from fluidframes.errors import MediaError

    def broken(src, dst, **kw):
        raise MediaError(f"cannot read {src}: damaged; work folder {Path(dst).parent}/x")

    monkeypatch.setattr(pipeline, "interpolate_video", broken)
    failed = wait_for(c, submit(c, clip, multi=2)["id"], "failed")
    assert failed["error"].startswith("cannot read carphone.mp4: damaged")

    def disk_full(src, dst, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(pipeline, "interpolate_video", disk_full)
    full = wait_for(c, submit(c, clip, multi=2)["id"], "failed")
    assert "disk is full" in full["error"]
    bad = c.post("/api/jobs", files={"file": ("notes.txt", b"not a video\n" * 40, "text/plain")})
    assert bad.json()["detail"] == ("notes.txt is not a video fluidframes can read: its contents "
                                    "are not in any video format FFmpeg knows")

    texts = [events, bad.text, c.get("/api/jobs").text, c.get("/api/config").text,
             c.get("/openapi.json").text, *(c.get(f"/api/jobs/{j}").text
                                           for j in (job["id"], failed["id"], full["id"]))]
    for text in texts:
        for secret in (data_dir, str(tmp_path), "/tmp/", "/root", "source.mp4", "result.mp4",
                       ".part"):
            assert secret not in text, (secret, text[:300])


# -- no secret in a log line -----------------------------------------------------------------

class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_token_never_reaches_a_log_line(make_config, clip):
    from _browserkit import LiveServer

    from fluidframes.server.app import create_app

    secret = "tok-7f3a9c-very-secret"
    app = create_app(make_config(token=secret))
    server = LiveServer(app, log_level="info")  # uvicorn's access log on, as `serve` has it
    cap = _Capture()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error", "fluidframes")]
    for lg in loggers:
        lg.addHandler(cap)
    try:
        with server, httpx.Client(base_url=server.url) as http:
            page = http.get(f"/?token={secret}", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"] == "/"
            assert secret not in page.headers["set-cookie"]
            assert http.get("/").status_code == 200  # the cookie opens the page ...
            assert http.get("/api/jobs").status_code == 200  # ... and the API for the page
            assert http.get(f"/api/jobs?token={secret}").status_code == 401
            assert httpx.get(server.url + f"/static/app.js?access_token={secret}").status_code == 401
            with open(clip, "rb") as fh:
                r = httpx.post(server.url + "/api/jobs", files={"file": ("c.mp4", fh)},
                               headers={"Authorization": f"Bearer {secret}"})
            assert r.status_code == 201 and secret not in r.text
            assert "token" not in json.dumps(r.json()["urls"])
            time.sleep(0.3)
    finally:
        for lg in loggers:
            lg.removeHandler(cap)
    access = [line for line in cap.lines if '"GET /' in line]
    assert any("/?token=REDACTED" in line for line in access), cap.lines  # logged, masked
    assert not [line for line in cap.lines if secret in line], cap.lines


def test_redact_filter_masks_any_record():
    from fluidframes.server.security import RedactFilter

    rec = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                            '%s - "%s %s HTTP/%s" %d',
                            ("1.2.3.4", "GET", "/x?a=1&token=abc&b=2", "1.1", 200), None)
    RedactFilter().filter(rec)
    assert rec.getMessage() == '1.2.3.4 - "GET /x?a=1&token=REDACTED&b=2 HTTP/1.1" 200'


# -- no NaN in any JSON ------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("scene_threshold", "nan"), ("scene_threshold", "NaN"), ("scene_threshold", "inf"),
    ("scene_threshold", "-inf"), ("scene_threshold", "1e999"), ("fps", "nan"), ("fps", "inf"),
    ("preview_at", "nan"), ("preview_seconds", "inf"), ("segment_seconds", "nan"),
])
def test_non_finite_numbers_refused(client, clip, field, value):
    r = _post(client, clip, **{field: value})
    assert r.status_code == 400 and r.json()["field"] == field, r.text
    _nothing_stored(client)


def test_json_and_events_stay_strict(client, clip):
    job = submit(client, clip, multi=2)
    wait_for(client, job["id"], "done")
    store = client.app.state.store
    store.update(job["id"], fps=float("inf"), eta=float("nan"),
                 summary={**store.get(job["id"]).summary, "speed_fps": float("nan"),
                          "av_sync_error": float("-inf")})
    client.app.state.runner.changes.bump(job["id"])
    view = _strict(client.get(f"/api/jobs/{job['id']}").text)
    assert view["progress"]["fps"] is None and view["progress"]["eta"] is None
    assert view["summary"]["speed_fps"] is None and view["summary"]["av_sync_error"] is None
    _strict(client.get("/api/jobs").text)
    events = _sse_text(client, f"/api/jobs/{job['id']}/events")
    for line in events.splitlines():
        if line.startswith("data: "):
            _strict(line[6:])


# -- the preview render ------------------------------------------------------------------------

def test_preview_job_and_render_whole_file(client, long_clip, tmp_path):
    prev = submit(client, long_clip, name="walk.mp4", multi=2, preview_at=2, preview_seconds=1)
    assert prev["kind"] == "preview" and prev["clip"] == {"start": 1.5, "seconds": 1.0}
    assert prev["urls"]["render"] == f"/api/jobs/{prev['id']}/render"
    done = wait_for(client, prev["id"], "done", timeout=120)
    assert 29 <= done["summary"]["frames_in"] <= 31
    assert done["result"]["name"].startswith("walk_preview_2X_")
    src = tmp_path / "clip.mp4"
    src.write_bytes(client.get(done["urls"]["source"]).content)  # what it was made from
    assert abs(float(probe(src).duration) - 1.0) < 0.05

    whole = client.post(done["urls"]["render"])
    assert whole.status_code == 201, whole.text
    whole = whole.json()
    assert whole["kind"] == "full" and whole["options"] == done["options"]
    assert whole["filename"] == "walk.mp4" and whole["id"] != prev["id"]
    client.post(f"/api/jobs/{whole['id']}/cancel")
    layout = client.app.state.layout
    a = layout.job_dir(prev["id"]) / "source.mp4"
    b = layout.job_dir(whole["id"]) / "source.mp4"
    assert a.read_bytes() == b.read_bytes()  # the server's copy, not a new upload
    assert client.post(f"/api/jobs/{whole['id']}/render").status_code == 400
    other = client.post(done["urls"]["render"], json={"multi": "3", "format": "mkv"})
    assert other.status_code == 201 and other.json()["options"]["multi"] == 3
    client.post(f"/api/jobs/{other.json()['id']}/cancel")
    bad = client.post(done["urls"]["render"], json={"multi": "1000"})
    assert bad.status_code == 400 and bad.json()["field"] == "multi"


@pytest.mark.parametrize("fields, field, message", [
    ({"preview_at": "99"}, "preview_at", "preview_at must be within the video (0 to 4.00 s), got 99"),
    ({"preview_at": "-1"}, "preview_at", "preview_at must be a number from 0 to"),
    ({"preview_at": "1", "preview_seconds": "30"}, "preview_seconds",
     "preview_seconds must be a number from 0.2 to 10, got 30"),
])
def test_preview_window_checked(client, long_clip, fields, field, message):
    r = _post(client, long_clip, **fields)
    assert r.status_code == 400 and r.json()["detail"].startswith(message), r.text
    assert r.json()["field"] == field
    _nothing_stored(client)

