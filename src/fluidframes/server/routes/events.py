"""Live progress as server-sent events: one job's stream, and one stream for all jobs (what the
page uses). Both poll the :class:`..runner.Changes` counters every ``SSE_POLL`` seconds and read
the store only when a counter moved; a comment line every ``SSE_PING`` seconds keeps idle
connections open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..public import dumps
from ..state import ServerState, Shared
from ..views import job_view

router = APIRouter(prefix="/api", tags=["jobs"])

SSE_POLL = 0.25  # seconds
SSE_PING = 15.0
RETRY = "retry: 2000\n\n"  # the browser reconnects after 2 s
PING = ": ping\n\n"


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {dumps(data)}\n\n"


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """A server-sent-events response that proxies and caches leave alone."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def job_changes(state: ServerState, job_id: str, request: Request) -> AsyncIterator[str]:
    """``job`` on every change of one job; ``end`` (or ``deleted``) and done when it ends."""
    seen, pinged = -1, time.monotonic()
    yield RETRY
    while not await request.is_disconnected():
        v = state.changes.of(job_id)
        if v != seen:
            seen = v
            job = state.store.get(job_id)
            if job is None:
                yield sse("deleted", {"id": job_id})
                return
            yield sse("job", job_view(job, state.layout))
            if job.terminal and not state.runner.is_running(job_id):
                yield sse("end", {"id": job_id, "status": job.status})
                return
        elif time.monotonic() - pinged > SSE_PING:
            pinged = time.monotonic()
            yield PING
        await asyncio.sleep(SSE_POLL)


async def all_changes(state: ServerState, request: Request) -> AsyncIterator[str]:
    """``job`` for each job that changed (oldest first), ``deleted`` for each one gone."""
    seen: dict[str, int] = {}
    total, pinged = -1, time.monotonic()
    yield RETRY
    while not await request.is_disconnected():
        if state.changes.total != total:
            total = state.changes.total
            jobs = state.store.list()
            ids = {j.id for j in jobs}
            for job in reversed(jobs):
                v = state.changes.of(job.id)
                if seen.get(job.id) != v:
                    seen[job.id] = v
                    yield sse("job", job_view(job, state.layout))
            for gone in set(seen) - ids:
                del seen[gone]
                yield sse("deleted", {"id": gone})
        elif time.monotonic() - pinged > SSE_PING:
            pinged = time.monotonic()
            yield PING
        await asyncio.sleep(SSE_POLL)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`job` events (the job JSON) until it ends"}})
async def job_events(job_id: str, request: Request, state: Shared) -> StreamingResponse:
    """Server-sent events: the job on every change; the stream ends when the job does."""
    state.job(job_id)
    return event_stream(job_changes(state, job_id, request))


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`job` and `deleted` events for every job"}})
async def all_events(request: Request, state: Shared) -> StreamingResponse:
    """Server-sent events for all jobs on one connection (what the page uses: browsers
    allow only ~6 connections per server, so one stream per job would starve downloads)."""
    return event_stream(all_changes(state, request))
