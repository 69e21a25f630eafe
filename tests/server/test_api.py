"""REST API tests (FastAPI TestClient) on a short real clip with a tiny random-weight model."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

import pytest
from _serverkit import CLIP_FRAMES, submit, wait_for

from fluidframes.server.app import create_app
from fluidframes.video.reader import probe


def _events(client, url: str) -> list[tuple[str, dict]]:
    out, event = [], None
    with client.stream("GET", url) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
                if event in ("end", "deleted"):
                    break
    return out


def test_health_config_openapi(client):
    assert client.get("/api/health").json()["status"] == "ok"
    cfg = client.get("/api/config").json()
    assert cfg["models"] == ["tiny-rife.pkl"] and "mp4" in cfg["formats"]
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/cancel",
              "/api/jobs/{job_id}/result", "/api/jobs/{job_id}/events", "/api/health"):
        assert p in paths
    assert "multipart/form-data" in paths["/api/jobs"]["post"]["requestBody"]["content"]
    page = client.get("/")
    assert page.status_code == 200 and "fluidframes" in page.text
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.slow
def test_full_lifecycle(client, clip, tmp_path):
    job = submit(client, clip, multi=2, format="mp4", crf=23)
    assert job["status"] in ("queued", "running")
    assert job["filename"] == "carphone.mp4" and job["source"]["width"] == 176
    assert job["options"]["multi"] == 2 and job["options"]["crf"] == 23

    events = _events(client, f"/api/jobs/{job['id']}/events")  # live until the job ends
    statuses = [d["status"] for e, d in events if e == "job"]
    assert statuses[-1] == "done" and events[-1][0] == "end"

    done = client.get(f"/api/jobs/{job['id']}").json()
    p = done["progress"]
    assert p["frames_out"] == p["frames_total"] == done["summary"]["frames_out"]
    assert done["summary"]["frames_in"] == CLIP_FRAMES and p["fps"] > 0 and p["percent"] == 100.0
    assert done["result"]["media_type"] == "video/mp4"
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]

    r = client.get(done["urls"]["result"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.headers["content-disposition"].startswith('attachment; filename="carphone_')
    assert len(r.content) == done["result"]["size"] > 1000
    out = tmp_path / "result.mp4"
    out.write_bytes(r.content)
    info = probe(out)
    assert info.frame_count == done["summary"]["frames_out"] and info.rate == 2 * probe(clip).rate
    ranged = client.get(done["urls"]["result"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # seeking in <video>

    assert client.get(done["urls"]["source"]).content == clip.read_bytes()
    prev = client.get(done["urls"]["result_preview"])
    assert prev.status_code == 200 and prev.headers["content-type"] == "video/webm"
    assert prev.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a real WebM

    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.get(done["urls"]["result"]).status_code == 404
    data = client.app.state.layout
    assert not list(data.jobs.iterdir()) and not list(data.uploads.iterdir())


def test_cancel_running_and_queued(client, long_clip, clip):
    running = submit(client, long_clip, multi=2)
    queued = submit(client, clip, multi=2)
    wait_for(client, running["id"], "running", pred=lambda j: j["progress"]["frames_out"] > 0)
    assert client.get(f"/api/jobs/{queued['id']}").json()["status"] == "queued"
    r = client.post(f"/api/jobs/{queued['id']}/cancel").json()
    assert r["status"] == "cancelled"
    r = client.post(f"/api/jobs/{running['id']}/cancel").json()
    assert r["status"] == "cancelled" and r["result"] is None
    out = client.app.state.layout.output_dir(running["id"])
    assert not out.exists() or not any(out.iterdir())  # no partial output left
    assert client.get(f"/api/jobs/{running['id']}/result").status_code == 409


@pytest.mark.slow
def test_restart_keeps_jobs_and_interrupts_running(make_client, clip, tmp_path):
    c1 = make_client()
    finished = submit(c1, clip, multi=2)
    wait_for(c1, finished["id"], "done")
    victim = submit(c1, clip, multi=4)
    wait_for(c1, victim["id"], "running", pred=lambda j: j["progress"]["frames_out"] > 0)
    c1.__exit__(None, None, None)  # the server stops mid-job

    # A crash leaves 'running' in the database: simulate it on the finished job's copy.
    db = tmp_path / "data" / "jobs.sqlite3"
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM jobs WHERE id=?", (victim["id"],)).fetchone()[0] == "interrupted"
        con.execute("UPDATE jobs SET status='running' WHERE id=?", (victim["id"],))

    c2 = make_client()
    jobs = {j["id"]: j for j in c2.get("/api/jobs").json()}
    assert jobs[finished["id"]]["status"] == "done"
    assert c2.get(f"/api/jobs/{finished['id']}/result").status_code == 200
    assert jobs[victim["id"]]["status"] == "interrupted"
    assert "re-run" in jobs[victim["id"]]["error"]
    assert c2.post(f"/api/jobs/{victim['id']}/rerun").json()["status"] in ("queued", "running")
    again = wait_for(c2, victim["id"], "done")
    assert again["runs"] == 2 and again["summary"]["frames_in"] == CLIP_FRAMES
    assert c2.post(f"/api/jobs/{victim['id']}/rerun").status_code in (200, 409)


def test_failed_job_shows_error(client, clip, monkeypatch):
    # an encoder the container cannot take is refused with the upload now (the pipeline's own
    # plan runs before the job exists), naming the field
    with open(clip, "rb") as fh:
        r = client.post("/api/jobs", files={"file": ("c.mp4", fh, "video/mp4")},
                        data={"codec": "no-such-codec"})
    assert r.status_code == 400 and r.json() == {
        "detail": "unknown codec 'no-such-codec' (not in this FFmpeg build)", "field": "codec"}
    assert client.get("/api/jobs").json() == []

    from fluidframes import pipeline

    def disk_full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/x")

    monkeypatch.setattr(pipeline, "interpolate_video", disk_full)
    full = submit(client, clip, multi=2)
    job = wait_for(client, full["id"], "failed")
    assert "disk is full" in job["error"]


@pytest.mark.parametrize("body, name, fields, status, message", [
    (b"hello, I am not a video\n" * 50, "notes.txt", {}, 400, "not a video"),
    (b"", "empty.mp4", {}, 400, "empty"),
    (None, None, {"multi": "2"}, 400, "no video"),
    ("clip", "a.mp4", {"multi": "1"}, 400, "multi must be a whole number from 2 to 64, got 1"),
    ("clip", "a.mp4", {"multi": "2", "exp": "2"}, 400, "either multi or exp, not both"),
    ("clip", "a.mp4", {"format": "avi"}, 400, "format must be one of"),
    ("clip", "a.mp4", {"model_file": "/etc/passwd"}, 400, "unknown field"),
    ("clip", "a.mp4", {"model": "rife-4.25"}, 400, "offers only"),
])
def test_bad_uploads(client, clip, body, name, fields, status, message):
    parts = {k: (None, v) for k, v in fields.items()}  # plain form fields, still multipart
    if body is not None:
        parts["file"] = (name, clip.read_bytes() if body == "clip" else body, "application/octet-stream")
    r = client.post("/api/jobs", files=parts)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    layout = client.app.state.layout
    assert not list(layout.jobs.iterdir()) and not list(layout.uploads.iterdir())
    assert client.get("/api/jobs").json() == []


def test_not_multipart(client):
    r = client.post("/api/jobs", content=b"raw", headers={"content-type": "video/mp4"})
    assert r.status_code == 415 and "multipart" in r.json()["detail"]


def test_size_limit(make_client, clip):
    c = make_client(max_upload=64 * 1024)
    big = b"\0" * (300 * 1024)
    r = c.post("/api/jobs", files={"file": ("big.mp4", big, "video/mp4")})
    assert r.status_code == 413 and "64 KiB" in r.json()["detail"]
    layout = c.app.state.layout
    assert not list(layout.uploads.iterdir()) and not list(layout.jobs.iterdir())
    assert clip.stat().st_size < 64 * 1024
    assert submit(c, clip)["status"] in ("queued", "running")  # under the limit: accepted


@pytest.mark.slow
def test_filename_never_becomes_a_path(client, clip, tmp_path):
    evil = '../../../../tmp/evil"\r\nX-Injected: 1;.mp4'
    job = submit(client, clip, name=evil, multi=2)
    assert "/" not in job["filename"] and "\n" not in job["filename"] and ".." not in job["filename"].split("_")[0]
    layout = client.app.state.layout
    job_dir = layout.job_dir(job["id"])
    assert sorted(p.name for p in job_dir.iterdir() if p.is_file()) == ["source.mp4"]
    assert not (tmp_path / "evil").exists() and not list(tmp_path.parent.glob("evil*"))
    done = wait_for(client, job["id"], "done")
    cd = client.get(done["urls"]["result"]).headers["content-disposition"]
    assert "\n" not in cd and "\r" not in cd and "X-Injected" not in cd.split(";")[1].replace("X-Injected_", "")
    assert cd.startswith('attachment; filename="') and "/" not in cd.split("filename*=")[0]


def test_token_required_off_loopback(make_client, make_config, monkeypatch):
    from fluidframes.cli import main
    from fluidframes.errors import InputError

    with pytest.raises(InputError, match="token"):
        make_config(host="0.0.0.0").check_exposure()
    monkeypatch.delenv("FLUIDFRAMES_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2

    c = make_client(host="0.0.0.0", token="s3cret", start_worker=False)
    assert c.get("/api/health").status_code == 200
    for path in ("/api/jobs", "/api/config", "/", "/static/app.js", "/openapi.json"):
        assert c.get(path).status_code == 401, path
    assert c.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    # a token in an API URL is refused (it would land in logs); the page URL trades it for a
    # cookie and a redirect to the bare URL
    assert c.get("/api/jobs?token=s3cret").status_code == 401
    assert c.post("/api/jobs", files={"file": ("a.mp4", b"x")}).status_code == 401
    page = c.get("/?token=s3cret", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/"
    cookie = page.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie and "s3cret" not in cookie
    assert c.get("/static/app.js").status_code == 200  # the cookie now carries the session
    assert c.get("/api/jobs").status_code == 200


def test_loopback_rejects_foreign_host_and_origin(client):
    assert client.get("/api/jobs", headers={"Host": "evil.example"}).status_code == 403
    assert client.get("/api/jobs", headers={"Host": "localhost:8000"}).status_code == 200
    r = client.post("/api/jobs", files={"file": ("a.mp4", b"x")},
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]


def test_app_requires_nothing_but_config(make_config):
    app = create_app(make_config(), start_worker=False)
    assert app.title == "fluidframes"


def test_limit_enforced_while_streaming(tmp_path):
    """The body is refused at the first chunk past the limit, not after reading it all."""
    import asyncio

    from fluidframes.server.uploads import UploadError, receive_form

    consumed = []
    boundary = "XyZ"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()

    async def body():
        yield head
        for i in range(1000):  # 64 MiB if read to the end
            consumed.append(i)
            yield b"\0" * 65536

    dest = tmp_path / "x.part"
    with pytest.raises(UploadError) as err:
        asyncio.run(receive_form(f"multipart/form-data; boundary={boundary}", None, body(),
                                 dest, limit=200_000))
    assert err.value.status == 413
    assert len(consumed) <= 5 and not dest.exists()
    with pytest.raises(UploadError) as err:  # a declared length over the limit: not read at all
        asyncio.run(receive_form(f"multipart/form-data; boundary={boundary}", str(10**12),
                                 body(), dest, limit=200_000))
    assert err.value.status == 413 and not dest.exists()


def test_names_are_cleaned():
    from fluidframes.server.files import clean_filename, content_disposition

    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\x\\..\\clip.mp4") == "clip.mp4"
    assert clean_filename("..") == "video" and clean_filename("") == "video"
    assert clean_filename("a\x00b\nc.mp4") == "a_b_c.mp4"
    cd = content_disposition('ünïcode "q".mp4')
    assert cd.startswith('attachment; filename="unicode _q_.mp4"; filename*=UTF-8\'\'')


def test_jobs_keep_their_work_folders_under_data(client, clip, tmp_path, monkeypatch):
    # segment checkpoints of the server's jobs live under --data/work, not in the user cache
    import fluidframes.pipeline as pipeline

    seen = []
    real = pipeline.work_dir_for

    def spy(*args, base=None, **kw):
        work = real(*args, base=base, **kw)
        seen.append((base, work.path))
        return work

    monkeypatch.setattr(pipeline, "work_dir_for", spy)
    job = submit(client, clip, multi=2, segment_seconds=0)
    assert wait_for(client, job["id"], {"done", "failed"})["status"] == "done"
    data = tmp_path / "data"
    assert [Path(b) for b, _ in seen] == [data / "work"]
    assert seen[0][1].parent == data / "work" and not seen[0][1].exists()  # removed when done
