"""The studio page end to end in real headless Chromium (Debian's package, driven by Playwright
for Python; no browser is downloaded): the whole flow at 1280 px and at 390 px, a bad upload and
its recovery, the preview render, cancelling a running job, keyboard use, and an axe-core
accessibility check.

Screenshots and the axe report go to ``$FLUIDFRAMES_SCREENSHOTS`` or a pytest temp folder (the
path is printed; run with ``-s`` to see it).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from _browserkit import ARGS, CHROMIUM, LiveServer, axe_script, no_horizontal_scroll

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")

# Record what the live region says (announcements replace each other quickly).
LISTEN = """() => { window.__said = []; const r = document.querySelector('#announce');
  new MutationObserver(() => { if (r.textContent) window.__said.push(r.textContent); })
    .observe(r, {childList: true, characterData: true, subtree: true}); }"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("FLUIDFRAMES_SCREENSHOTS")
                  or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def studio(tmp_path_factory, model_file):
    """One server for the module (jobs of earlier tests stay listed, as for a real user)."""
    from fluidframes.options import ModelConfig
    from fluidframes.server.app import create_app
    from fluidframes.server.config import ServerConfig

    cfg = ServerConfig(data_dir=tmp_path_factory.mktemp("studio") / "data",
                       model=ModelConfig(model_file=str(model_file), device="cpu", threads=2))
    with LiveServer(create_app(cfg)) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(browser, studio):
    opened = []

    def open_(width: int, height: int = 900):
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  accept_downloads=True)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(studio.url + "/")
        page.wait_for_selector("body[data-ready='1']")
        page.evaluate(LISTEN)
        opened.append((ctx, errors))
        return page

    yield open_
    for ctx, errors in opened:
        ctx.close()
        assert not errors, errors


@pytest.fixture(scope="module")
def e2e_clip(tmp_path_factory) -> Path:
    """30 real frames: long enough to catch the job mid-run on a busy machine."""
    from conftest import _trim

    from fluidframes.samples import sample_path

    return _trim(sample_path("carphone"), tmp_path_factory.mktemp("e2e") / "car phone.mp4", 30)


def _copy(src: Path, folder: Path, name: str) -> Path:
    dst = folder / name
    shutil.copyfile(src, dst)
    return dst


def _card(page, name: str, status: str | None = None, kind: str | None = None) -> str:
    """A CSS selector of a job's card (usable in page.evaluate too)."""
    return (".job" + (f"[data-status={status}]" if status else "")
            + (f"[data-kind={kind}]" if kind else "") + f'[data-name="{name}"]')


def _wait_media(page) -> None:
    page.wait_for_function("document.querySelector('#res').readyState >= 2", timeout=30_000)
    page.wait_for_function("document.querySelector('#orig').hidden || "
                           "document.querySelector('#orig').readyState >= 2", timeout=30_000)


def _frame_no(page) -> int:
    return int(page.inner_text("#frame-info").split()[1])


def test_flow_at_1280_keyboard(open_page, e2e_clip, shots, tmp_path, studio):
    page = open_page(1280)
    # a choice with no default offers "default" first and starts there (not on its first
    # choice: --quality unset is not --quality fast)
    assert page.input_value("#opt-quality") == ""
    assert page.locator("#opt-quality option").first.inner_text().startswith("default")
    page.set_input_files("#files", str(e2e_clip))
    page.fill("#multi", "2")
    page.select_option("#format", "mp4")
    page.focus("#start")
    page.keyboard.press("Enter")

    card = _card(page, "car phone.mp4")
    page.wait_for_function(  # a few frames in: the speed and ETA are meaningful
        f"(document.querySelector('{_card(page, 'car phone.mp4', 'running')}')?.dataset.frames || 0) >= 8",
        timeout=90_000)
    running = page.inner_text(f"{card} .stats")
    assert "frames" in running and "ETA" in running, running
    bar = page.locator(f"{card} [role=progressbar]")
    assert bar.get_attribute("aria-label") == "Progress of car phone.mp4"
    assert 0 < int(bar.get_attribute("aria-valuenow")) <= 100
    page.screenshot(path=str(shots / "1280-1-mid-job.png"), full_page=True)

    page.wait_for_selector(_card(page, "car phone.mp4", "done"), timeout=180_000)
    assert "30 → 60 frames" in page.inner_text(f"{card} .stats")
    assert page.locator(f"{card} [role=progressbar]").get_attribute("aria-valuenow") == "100"
    page.wait_for_function("window.__said.includes('car phone.mp4: done')", timeout=5_000)
    said = page.evaluate("window.__said")
    assert "car phone.mp4: running" in said, said
    # progress is announced at each quarter it crosses (the latest one when events skip some)
    quarters = [int(x.rsplit(" ", 1)[1][:-1]) for x in said
                if x.startswith("car phone.mp4: ") and x.endswith("%")]
    assert quarters and quarters == sorted(set(quarters)), said
    assert all(q in (25, 50, 75) for q in quarters), said

    # the comparison, by keyboard: one box at the panel's width, original over result
    page.focus(f"{card} [data-action=compare]")
    page.keyboard.press("Enter")
    _wait_media(page)
    assert page.evaluate("document.activeElement.id") == "viewer-title"
    boxes = page.evaluate("""() => ['#res', '#orig', '#stage', '#viewer'].map(s => {
        const r = document.querySelector(s).getBoundingClientRect(); return [r.x, r.width, r.height]; })""")
    res, orig, stage, viewer = boxes
    assert res == orig == stage, boxes  # the same box: a wipe, not two thumbnails
    # as large as the panel allows: its full width, or 78 % of the window's height
    assert stage[1] > 0.9 * (viewer[1] - 50) or abs(stage[2] - 0.78 * 900) < 2, boxes
    assert page.get_attribute("#stage", "data-mode") == "wipe"
    page.evaluate("() => { const w = document.querySelector('#wipe'); w.value = 30; "
                  "w.dispatchEvent(new Event('input')); }")
    clip = page.evaluate("getComputedStyle(document.querySelector('#orig')).clipPath")
    assert "70%" in clip, clip  # the original shows on the left 30 %

    # frame stepping: the result and the original move together, one output frame at a time
    page.focus("#step-fwd")
    for _ in range(3):
        page.keyboard.press("Enter")
        page.wait_for_timeout(150)
    page.wait_for_function("!document.querySelector('#res').seeking")
    n = _frame_no(page)
    assert n == 4, page.inner_text("#frame-info")
    page.click("#step-back")
    page.wait_for_function("!document.querySelector('#res').seeking")
    assert _frame_no(page) == 3
    t = page.evaluate("[document.querySelector('#res').currentTime, document.querySelector('#orig').currentTime]")
    assert abs(t[0] - t[1]) < 0.05 and abs(t[0] - 2.5 / (60000 / 1001)) < 0.01, t

    page.keyboard.press("t")  # toggle: the whole frame from one side
    assert page.get_attribute("#stage", "data-mode") == "original"
    page.keyboard.press("t")
    assert page.get_attribute("#stage", "data-mode") == "result"
    page.check("input[name=compare][value=wipe]")
    page.click("#play")
    page.wait_for_function("document.querySelector('#res').currentTime > 0.4", timeout=20_000)
    state = page.evaluate("""() => ({o: document.querySelector('#orig').currentTime,
        paused: document.querySelector('#orig').paused, w: document.querySelector('#res').videoWidth})""")
    assert state["w"] == 176 and state["o"] > 0 and not state["paused"], state
    page.click("#play")
    page.screenshot(path=str(shots / "1280-2-compare.png"), full_page=True)
    # the viewer as it is on screen (a full-page shot stretches the window, and with it 78vh)
    page.locator("#viewer").screenshot(path=str(shots / "1280-2-compare-viewer.png"))
    widths = no_horizontal_scroll(page)
    assert widths["scroll"] <= widths["inner"], widths

    with page.expect_download() as dl_info:
        page.click("#viewer-download")
    download = dl_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename.startswith("car phone_2X_") and saved.suffix == ".mp4"
    job = next(j for j in studio.app.state.store.list() if j.filename == "car phone.mp4")
    assert saved.stat().st_size == job.output_size


def test_phone_width_390(open_page, clip, shots, tmp_path):
    page = open_page(390, 844)
    widths = no_horizontal_scroll(page)
    assert widths["scroll"] <= widths["inner"] == 390, widths
    page.set_input_files("#files", str(_copy(clip, tmp_path, "a-rather-long-phone-clip-name-"
                                             "that-must-wrap-not-widen-the-page.mp4")))
    page.click("#advanced summary")
    page.fill("#multi", "2")
    page.check("#opt-montage")  # and a montage job is shown as itself
    widths = no_horizontal_scroll(page)
    assert widths["scroll"] <= widths["inner"], widths
    start = page.locator("#start")
    start.scroll_into_view_if_needed()
    box = start.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # Start is not cut off
    page.screenshot(path=str(shots / "390-1-form.png"), full_page=True)
    start.click()
    name = "a-rather-long-phone-clip-name-that-must-wrap-not-widen-the-page.mp4"
    page.wait_for_selector(_card(page, name, "done"), timeout=120_000)
    widths = no_horizontal_scroll(page)
    assert widths["scroll"] <= widths["inner"], widths
    assert page.inner_text(f"{_card(page, name)} [data-action=compare]") == "Play"
    page.click(f"{_card(page, name)} [data-action=compare]")
    _wait_media(page)
    page.wait_for_timeout(800)  # the smooth scroll to the viewer
    stage, res, controls = page.evaluate("""() => ['#stage', '#res', '#controls'].map(s => {
        const r = document.querySelector(s).getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height}; })""")
    assert 300 < stage["width"] <= 390, stage
    # the montage already holds the original: one video, its own shape (2 x 176 : 144), with
    # the controls below it rather than over it, and no wipe
    assert page.evaluate("document.querySelector('#res').videoWidth") == 352
    assert abs(stage["width"] / stage["height"] - 352 / 144) < 0.02, stage
    assert page.is_hidden("#orig") and page.is_hidden("#compare-modes")
    assert page.get_attribute("#res", "controls") is None
    assert res == stage and controls["y"] >= res["y"] + res["height"], (res, stage, controls)
    widths = no_horizontal_scroll(page)
    assert widths["scroll"] <= widths["inner"], widths
    page.screenshot(path=str(shots / "390-2-compare.png"), full_page=True)
    page.locator("#viewer").screenshot(path=str(shots / "390-2-compare-viewer.png"))


def test_bad_upload_and_recovery(open_page, clip, shots, tmp_path):
    page = open_page(1280)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello, I am not a video\n" * 50)
    good = _copy(clip, tmp_path, "good.mp4")
    page.set_input_files("#files", [str(notes), str(good)])
    page.click("#advanced summary")
    page.fill("#opt-codec", "no-such-codec")
    page.click("#start")

    bad_li = page.locator("#pending li", has_text="notes.txt")
    good_li = page.locator("#pending li", has_text="good.mp4")
    page.wait_for_selector("#pending li[data-state=failed]", timeout=30_000)
    assert bad_li.get_attribute("data-state") == "bad"
    text = bad_li.locator(".err").inner_text()
    assert text.startswith("notes.txt is not a video") and "Errno" not in text, text
    assert bad_li.locator(".name").bounding_box()["width"] > 60  # the name stays readable
    assert "unknown codec 'no-such-codec'" in good_li.locator(".err").inner_text()
    # the form points at the option the server refused, with the reason beside it
    assert page.get_attribute("#opt-codec", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "opt-codec"
    assert "no-such-codec" in page.inner_text("#err-codec")
    assert not page.is_disabled("#start")  # recovery without choosing the file again
    page.screenshot(path=str(shots / "1280-3-bad-upload.png"), full_page=True)

    page.fill("#opt-codec", "")
    assert good_li.get_attribute("data-state") == "ready"
    assert page.get_attribute("#opt-codec", "aria-invalid") is None
    page.click("#start")
    page.wait_for_selector(_card(page, "good.mp4"), timeout=30_000)
    assert good_li.count() == 0 and bad_li.get_attribute("data-state") == "bad"
    page.focus("#pending li:has-text('notes.txt') button[aria-label='Remove notes.txt']")
    page.keyboard.press("Enter")
    assert bad_li.count() == 0 and page.evaluate("document.activeElement.id") == "choose"
    assert page.is_disabled("#start")
    page.wait_for_selector(_card(page, "good.mp4", "done"), timeout=120_000)


def test_preview_render_then_whole_file(open_page, long_clip, shots, tmp_path, studio):
    page = open_page(1280)
    page.set_input_files("#files", str(_copy(long_clip, tmp_path, "preview me.mp4")))
    page.wait_for_selector("#preview-pick:not([hidden])")
    page.wait_for_function("+document.querySelector('#preview-at-range').max > 3.9")
    page.fill("#preview-at", "2")
    page.dispatch_event("#preview-at", "change")
    page.select_option("#preview-seconds", "1")
    page.fill("#multi", "2")
    page.click("#preview-go")
    card = _card(page, "preview me.mp4", kind="preview")
    page.wait_for_selector(_card(page, "preview me.mp4", "done", "preview"), timeout=120_000)
    assert "preview 1.5–2.5 s" in page.inner_text(card)
    job = next(j for j in studio.app.state.store.list() if j.kind == "preview")
    assert job.clip["start"] == 1.5 and job.clip["seconds"] == 1.0
    assert 29 <= job.summary["frames_in"] <= 31 and job.summary["frames_out"] == 2 * job.summary["frames_in"]
    # the file stays chosen: the whole of it can still be started from here
    assert page.locator("#pending li", has_text="preview me.mp4").get_attribute("data-state") == "ready"

    page.click(f"{card} [data-action=compare]")
    _wait_media(page)
    dur = page.evaluate("document.querySelector('#orig').duration")
    assert 0.9 < dur < 1.1, dur  # compared with the window it was made from
    page.screenshot(path=str(shots / "1280-4-preview.png"), full_page=True)
    page.locator("#viewer").screenshot(path=str(shots / "1280-4-preview-viewer.png"))
    page.click("#viewer-render")  # commit: the server's copy of the upload, not a new upload
    full = _card(page, "preview me.mp4", kind="full")
    page.wait_for_selector(full, timeout=30_000)
    page.click(f"{full} [data-action=cancel]")
    page.wait_for_selector(_card(page, "preview me.mp4", "cancelled", "full"), timeout=10_000)


def test_cancel_running_job(open_page, long_clip, shots, tmp_path):
    page = open_page(1280)
    page.set_input_files("#files", str(_copy(long_clip, tmp_path, "long.mp4")))
    page.fill("#multi", "8")
    page.click("#start")
    running = _card(page, "long.mp4", "running")
    page.wait_for_function(f"(document.querySelector('{running}')?.dataset.frames || 0) > 20",
                           timeout=120_000)
    page.focus(f"{running} [data-action=cancel]")
    t0 = time.monotonic()
    page.keyboard.press("Enter")
    page.wait_for_selector(_card(page, "long.mp4", "cancelled"), timeout=10_000)
    took = time.monotonic() - t0
    (shots / "cancel-seconds.txt").write_text(f"{took:.2f}\n")
    print(f"cancel -> cancelled in the page: {took:.2f} s")
    assert took < 2.5, took
    page.wait_for_function("window.__said.includes('long.mp4: cancelled')", timeout=5_000)


def _axe(page) -> list[dict]:
    page.add_script_tag(path=str(axe_script()))
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }""")


def test_accessibility_axe(open_page, clip, shots, tmp_path, studio):
    report = {}
    for width in (1280, 390):
        page = open_page(width, 900)
        page.set_input_files("#files", str(_copy(clip, tmp_path, f"axe {width}.mp4")))
        page.click("#advanced summary")
        report[f"{width}-form"] = _axe(page)
        page.click("#start")
        page.wait_for_selector(_card(page, f"axe {width}.mp4", "done"), timeout=120_000)
        page.click(f"{_card(page, f'axe {width}.mp4')} [data-action=compare]")
        _wait_media(page)
        report[f"{width}-jobs-and-compare"] = _axe(page)
    (shots / "axe.json").write_text(json.dumps(report, indent=1))
    counts: dict[str, int] = {}
    for found in report.values():
        for v in found:
            counts[v["impact"]] = counts.get(v["impact"], 0) + 1
    print(f"axe violations by impact: {counts or 'none'}")
    serious = [(k, v) for k, found in report.items() for v in found
               if v["impact"] in ("serious", "critical")]
    assert not serious, serious
