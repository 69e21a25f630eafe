"""``/api/jobs``: upload a video as a job, list and read jobs, render a preview whole, cancel,
re-run, delete. Whether a request becomes a job is :mod:`..admission`'s to say; a refusal is a
400 ``{"detail", "field"}``."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ...errors import FluidFramesError, InputError
from ..admission import Refused, field_of, render_fields
from ..files import clean_filename, new_job_id
from ..options import upload_schema
from ..public import scrub
from ..state import Shared
from ..store import STATUSES
from ..uploads import UploadError, receive_form
from ..views import job_view

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

CANCEL_WAIT = 3.0  # seconds a cancel request waits for the job to stop
DELETE_WAIT = 15.0  # seconds a delete waits for a running job to stop


def _refused(exc: Refused) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=400)


@router.post("", status_code=201, openapi_extra=upload_schema())
async def create_job(request: Request, state: Shared) -> JSONResponse:
    """Upload one video (multipart field ``file``) with options named like the CLI flags."""
    job_id = new_job_id()
    part = state.layout.partial_upload(job_id)
    try:
        form = await receive_form(request.headers.get("content-type"),
                                  request.headers.get("content-length"),
                                  request.stream(), part, state.config.max_upload)
    except UploadError as exc:
        log.info("upload refused (%d): %s", exc.status, exc.message)
        return JSONResponse({"detail": exc.message}, status_code=exc.status)
    try:
        job = await run_in_threadpool(state.admission.accept, job_id, part, form)
    except Refused as exc:
        return _refused(exc)
    except (InputError, FluidFramesError) as exc:
        msg = scrub(str(exc), {str(part): clean_filename(form.filename)})
        return JSONResponse({"detail": msg, "field": field_of(msg)}, status_code=400)
    except OSError as exc:
        state.layout.remove_job(job_id)
        return JSONResponse({"detail": f"cannot store the upload: {exc.strerror or exc}"},
                            status_code=507 if exc.errno == 28 else 500)
    finally:
        part.unlink(missing_ok=True)
    state.queued(job.id)
    return JSONResponse(job_view(job, state.layout), status_code=201)


@router.get("")
def list_jobs(state: Shared) -> list[dict[str, Any]]:
    """All jobs, newest first."""
    return [job_view(j, state.layout) for j in state.store.list()]


@router.get("/{job_id}")
def read_job(job_id: str, state: Shared) -> dict[str, Any]:
    return job_view(state.job(job_id), state.layout)


@router.post("/{job_id}/render", status_code=201)
async def render_job(job_id: str, request: Request, state: Shared) -> JSONResponse:
    """Render the whole file of a preview job: same upload, the preview's options (or the
    JSON object of fields sent, named as in ``POST /api/jobs``)."""
    preview = state.job(job_id)
    try:
        fields = render_fields(await request.body())
        job = await run_in_threadpool(state.admission.render_full, preview, fields)
    except Refused as exc:
        return _refused(exc)
    state.queued(job.id)
    return JSONResponse(job_view(job, state.layout), status_code=201)


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, state: Shared) -> dict[str, Any]:
    """Cancel a queued or running job (a finished job is left as it is). A running job
    stops within a second or two; the answer comes when it has (or after 3 s)."""
    job = state.job(job_id)
    if state.store.update(job_id, expect=("queued",), status="cancelled",
                          error="cancelled before it started", finished=time.time()):
        state.changes.bump(job_id)
    elif job.status == "running" or state.runner.is_running(job_id):
        state.runner.cancel(job_id)
        state.runner.wait_idle(job_id, CANCEL_WAIT)
    return job_view(state.job(job_id), state.layout)


@router.post("/{job_id}/rerun")
def rerun_job(job_id: str, state: Shared) -> dict[str, Any]:
    """Queue a finished, failed, cancelled or interrupted job again (same input)."""
    job = state.job(job_id)
    if job.status in ("queued", "running"):
        raise HTTPException(409, f"job is {job.status}; cancel it first")
    state.runner.reset(job_id)
    state.layout.clear_output(job_id)
    state.store.update(
        job_id, expect=tuple(s for s in STATUSES if s not in ("queued", "running")),
        status="queued", error=None, output_file=None, output_size=None, summary=None,
        started=None, finished=None, frames_out=0, frames_in=0, frames_total=None,
        elapsed=0.0, fps=0.0, eta=None)
    state.queued(job_id)
    return job_view(state.job(job_id), state.layout)


@router.delete("/{job_id}", status_code=204)
def delete_job(job_id: str, state: Shared) -> Response:
    """Remove a job with its files (a running job is cancelled first)."""
    state.job(job_id)
    state.runner.cancel(job_id)
    if not state.runner.wait_idle(job_id, DELETE_WAIT):
        raise HTTPException(409, "the job is still stopping; try again in a moment")
    state.store.delete(job_id)
    state.layout.remove_job(job_id)
    state.runner.reset(job_id)
    state.changes.bump(job_id)
    return Response(status_code=204)
