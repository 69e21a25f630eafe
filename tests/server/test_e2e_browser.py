"""End to end in real headless Chromium (Debian's package, driven by Playwright for Python):
upload a clip through the page, start, watch it finish, play the preview, download the result.

Screenshots (mid-job, finished, preview) go to ``$FLUIDFRAMES_SCREENSHOTS`` or a pytest temp
folder; the path is printed (run with ``-s`` to see it).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("FLUIDFRAMES_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(make_config):
    """uvicorn on a free loopback port, in a thread; yields the base URL and the app."""
    import uvicorn

    from fluidframes.server.app import create_app

    app = create_app(make_config())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("FLUIDFRAMES_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="session")
def e2e_clip(tmp_path_factory) -> Path:
    """90 real frames: long enough to catch the job mid-run even on an idle machine (the tiny
    model renders 20 frames faster than the first progress event)."""
    from conftest import _trim

    from fluidframes.samples import sample_path

    return _trim(sample_path("carphone"), tmp_path_factory.mktemp("e2e") / "car phone.mp4", 90)


def test_upload_progress_preview_download(live_server, e2e_clip, shots, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    base, app = live_server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            page.wait_for_selector("#model option", state="attached")  # config loaded
            page.set_input_files("#files", str(e2e_clip))
            page.select_option("#multi", "2")
            page.select_option("#format", "mp4")
            page.click("#start")

            page.wait_for_function(  # a few frames in: the speed and ETA are meaningful
                "(document.querySelector('.job[data-status=running]')?.dataset.frames || 0) >= 8",
                timeout=90_000)
            running = page.inner_text(".job[data-status=running] .stats")
            assert "frames" in running and "ETA" in running, running
            page.screenshot(path=str(shots / "1-mid-job.png"), full_page=True)

            page.wait_for_selector(".job[data-status=done]", timeout=180_000)
            stats = page.inner_text(".job[data-status=done] .stats")
            assert "90 → 180 frames" in stats, stats
            page.screenshot(path=str(shots / "2-finished.png"), full_page=True)

            page.click(".job[data-status=done] button:has-text('Preview')")
            page.wait_for_function("document.querySelector('#res').readyState >= 2", timeout=30_000)
            page.wait_for_function("document.querySelector('#orig').readyState >= 2", timeout=30_000)
            page.evaluate("() => { const v = document.querySelector('#res'); v.muted = true; v.loop = true; return v.play(); }")
            page.wait_for_function("document.querySelector('#res').currentTime > 0.4", timeout=20_000)
            state = page.evaluate("""() => { const r = document.querySelector('#res'),
                o = document.querySelector('#orig');
                return {res: r.currentTime, orig: o.currentTime, paused: o.paused,
                        ready: r.readyState, src: r.currentSrc, w: r.videoWidth}; }""")
            assert state["ready"] >= 2 and state["w"] == 176
            assert state["orig"] > 0 and not state["paused"], state  # the original follows
            page.evaluate("document.querySelector('#res').pause()")
            page.screenshot(path=str(shots / "3-preview.png"), full_page=True)

            with page.expect_download() as dl_info:
                page.click("#viewer-download")
            download = dl_info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            job = app.state.store.list()[0]
            assert saved.stat().st_size == job.output_size
            assert download.suggested_filename.startswith("car phone_") and saved.suffix == ".mp4"
            resp = page.request.get(base + f"/api/jobs/{job.id}/result")
            assert resp.status == 200 and resp.headers["content-type"] == "video/mp4"
            assert resp.body() == saved.read_bytes()
            assert not errors, errors
        finally:
            browser.close()
    print(f"screenshots written: {sorted(p.name for p in shots.iterdir())}")
