"""Helpers for the browser tests: a live uvicorn server, Debian's Chromium, axe-core.

Chromium is the system's (``/usr/bin/chromium`` or ``$FLUIDFRAMES_CHROMIUM``); Playwright never
downloads a browser here. axe-core comes from the npm registry through ``npm pack`` into
``~/.cache/fluidframes-test/axe`` on first use (or ``$FLUIDFRAMES_AXE`` names an axe.min.js).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

CHROMIUM = Path(os.environ.get("FLUIDFRAMES_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_DIR = Path.home() / ".cache" / "fluidframes-test" / "axe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn on a free loopback port, in a thread."""

    def __init__(self, app, log_level: str = "warning") -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level=log_level,
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def axe_script() -> Path:
    """axe.min.js: ``$FLUIDFRAMES_AXE``, the cache, or fetched once with ``npm pack``."""
    given = os.environ.get("FLUIDFRAMES_AXE")
    if given:
        return Path(given)
    target = AXE_DIR / "package" / "axe.min.js"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("axe-core is needed for the accessibility check: install npm, or set "
                           "FLUIDFRAMES_AXE to an axe.min.js")
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "pack", "axe-core", "--silent"], cwd=AXE_DIR, check=True,
                   timeout=300, capture_output=True)
    tgz = sorted(AXE_DIR.glob("axe-core-*.tgz"))[-1]
    with tarfile.open(tgz) as tar:
        tar.extract("package/axe.min.js", AXE_DIR, filter="data")
    return target


def no_horizontal_scroll(page) -> dict:
    """The page's widths; the caller asserts scrollWidth <= innerWidth."""
    return page.evaluate("""() => ({scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth, inner: window.innerWidth,
        body: document.body.scrollWidth})""")
