"""A job's files: the result, what it was made from, and browser-playable renditions of both.
Paths come from the job's folder (:class:`..files.Layout`), never from the request."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ...errors import FluidFramesError
from ..files import Layout, content_disposition
from ..options import MIME
from ..public import scrub
from ..state import Shared
from ..store import Job
from ..views import download_name, public_names

router = APIRouter(prefix="/api/jobs/{job_id}", tags=["files"])

SOURCE_MIME = {".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
               ".gif": "image/gif"}  # anything else: video/mp4


def source_path(job: Job, layout: Layout) -> Path:
    """What the result was made from: the upload, or a preview's clip."""
    job_dir = layout.job_dir(job.id)
    if job.kind == "preview":
        clip = job_dir / job.clip["file"]
        if not clip.is_file():
            raise HTTPException(409, "the preview clip is not cut yet")
        return clip
    return job_dir / job.input_file


def _result_path(job: Job, layout: Layout) -> Path:
    if job.status != "done" or not job.output_file:
        raise HTTPException(409, f"no result: the job is {job.status}")
    return layout.job_dir(job.id) / job.output_file


@router.get("/result")
def job_result(job_id: str, state: Shared, inline: bool = False) -> FileResponse:
    """The output file (``?inline=1`` to play it in the page rather than download)."""
    job = state.job(job_id)
    path = _result_path(job, state.layout)
    if not path.is_file():
        raise HTTPException(410, "the result file is gone from the server's data folder")
    return FileResponse(path, media_type=MIME[job.format], headers={
        "Content-Disposition": content_disposition(download_name(job), inline=inline)})


@router.get("/source")
def job_source(job_id: str, state: Shared) -> FileResponse:
    """The original the result was made from (a preview's clip), for the comparison."""
    job = state.job(job_id)
    path = source_path(job, state.layout)
    return FileResponse(path, media_type=SOURCE_MIME.get(path.suffix, "video/mp4"), headers={
        "Content-Disposition": content_disposition(job.filename, inline=True)})


@router.get("/preview")
async def job_preview(job_id: str, state: Shared, which: str = "result") -> FileResponse:
    """A VP9 WebM rendition any browser plays (made on first request, then cached)."""
    from ..preview import make_preview

    job = state.job(job_id)
    if which not in ("result", "source"):
        raise HTTPException(400, "which must be 'result' or 'source'")
    layout = state.layout
    src = _result_path(job, layout) if which == "result" else source_path(job, layout)
    dst = layout.job_dir(job_id) / f"preview-{which}.webm"
    try:
        await run_in_threadpool(make_preview, src, dst)
    except FluidFramesError as exc:
        msg = scrub(str(exc), public_names(job, layout))
        raise HTTPException(500, f"cannot make a playable copy: {msg}") from None
    return FileResponse(dst, media_type="video/webm")
