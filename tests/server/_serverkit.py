"""Helpers shared by the server tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

BASE_URL = "http://127.0.0.1"
CLIP_FRAMES = 10


def submit(client: TestClient, path: Path, name: str | None = None, **fields) -> dict:
    with open(path, "rb") as fh:
        r = client.post("/api/jobs", files={"file": (name or path.name, fh, "video/mp4")},
                        data={k: str(v) for k, v in fields.items()})
    assert r.status_code == 201, r.text
    return r.json()


def wait_for(client: TestClient, job_id: str, statuses: set[str] | str, timeout: float = 60.0,
             pred: Callable[[dict], bool] | None = None) -> dict:
    statuses = {statuses} if isinstance(statuses, str) else statuses
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses and (pred is None or pred(job)):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job stayed {job['status']} (wanted {statuses}): {job}")
        time.sleep(0.05)
