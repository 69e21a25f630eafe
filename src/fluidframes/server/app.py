"""The FastAPI app: REST under ``/api``, live progress as server-sent events, the page at ``/``.

Routes are thin: uploads go through :mod:`.uploads`, options through :mod:`.options`, the work
through :mod:`.runner` (which calls the pipeline). Errors are ``{"detail": "<one line>"}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..errors import FluidFramesError, InputError
from ..options import json_schema
from .config import ServerConfig
from .files import (
    Layout,
    clean_filename,
    content_disposition,
    new_job_id,
    source_suffix,
    valid_job_id,
)
from .options import FORMATS, MIME, parse_fields, upload_schema
from .runner import Changes, Runner
from .security import COOKIE, SecurityMiddleware, token_matches
from .store import STATUSES, Job, JobStore
from .uploads import UploadError, human_size, receive_form

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SSE_POLL = 0.25  # seconds
SSE_PING = 15.0


def _event_stream(events) -> StreamingResponse:
    """A server-sent-events response that proxies and caches leave alone."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def download_name(job: Job) -> str:
    """The name the CLI would give the result (``clip_2X_50fps.mp4``)."""
    from ..naming import output_tag

    stem = Path(job.filename).stem or "video"
    tag = "fluidframes"
    sm = job.summary
    if sm and sm.get("output_rate") and sm.get("source_rate"):
        out_rate, tempo = Fraction(sm["output_rate"]), Fraction(sm.get("tempo") or 1)
        slowmo = bool(job.options.get("slowmo"))
        factor = 1 / tempo if slowmo else out_rate / Fraction(sm["source_rate"])
        tag = output_tag(out_rate, factor, slowmo)
    return f"{stem}_{tag}.{job.format}"


def job_view(job: Job) -> dict[str, Any]:
    """The JSON a client sees; URLs are relative and token-free."""
    total = job.frames_total
    base = f"/api/jobs/{job.id}"
    view: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "format": job.format,
        "options": job.options,
        "source": job.source,
        "input_size": job.input_size,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "runs": job.runs,
        "error": job.error,
        "progress": {
            "frames_out": job.frames_out, "frames_total": total, "frames_in": job.frames_in,
            "elapsed": job.elapsed, "fps": job.fps, "eta": job.eta,
            "percent": round(100.0 * job.frames_out / total, 1) if total else None,
        },
        "result": None,
        "summary": job.summary,
        "urls": {"self": base, "events": f"{base}/events", "source": f"{base}/source",
                 "source_preview": f"{base}/preview?which=source"},
    }
    if job.status == "done" and job.output_file:
        view["result"] = {"name": download_name(job), "size": job.output_size,
                          "media_type": MIME[job.format]}
        view["urls"]["result"] = f"{base}/result"
        view["urls"]["result_preview"] = f"{base}/preview?which=result"
    return view


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def create_app(config: ServerConfig, *, start_worker: bool = True) -> FastAPI:
    """Build the app for ``config``; the worker starts and stops with the app's lifespan."""
    layout = Layout(config.data_dir)
    store = JobStore(layout.db)
    changes = Changes()
    runner = Runner(store, layout, config, changes)
    custom_model = config.custom_model

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        interrupted = store.recover()
        if interrupted:
            log.warning("%d job(s) were running when the server stopped: marked interrupted",
                        len(interrupted))
        layout.clean_partial_uploads()
        for job_id in interrupted:
            layout.clear_output(job_id)
        if start_worker:
            runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)
            store.close()

    app = FastAPI(title="fluidframes", version=__version__, lifespan=lifespan,
                  description="AI frame interpolation (RIFE) as a local web app and HTTP API.")
    app.add_middleware(SecurityMiddleware, config=config)
    app.state.store, app.state.runner, app.state.layout = store, runner, layout
    app.state.config = config

    def get_job(job_id: str) -> Job:
        job = store.get(job_id) if valid_job_id(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    # -- page ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        resp = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
        token = request.query_params.get("token")
        if config.token and token_matches(token, config.token):
            resp.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return resp

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- API -----------------------------------------------------------------------------------
    @app.get("/api/health", tags=["server"])
    def health() -> dict[str, Any]:
        """Liveness; answers without a token."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/config", tags=["server"])
    def server_config() -> dict[str, Any]:
        """What the page needs to build its form."""
        from ..models import registry

        if custom_model:
            models, default = [custom_model], custom_model
        else:
            models = [m.name for m in registry.list_models()]
            default = config.model.model or registry.DEFAULT_MODEL
        return {"models": models, "default_model": default, "formats": list(FORMATS),
                "max_upload": config.max_upload, "max_upload_text": human_size(config.max_upload),
                "device": config.model.device, "workers": config.workers,
                "statuses": list(STATUSES), "loaded_models": runner.models.loaded,
                "options": json_schema()}

    @app.post("/api/jobs", status_code=201, tags=["jobs"], openapi_extra=upload_schema())
    async def create_job(request: Request) -> JSONResponse:
        """Upload one video (multipart field ``file``) with options named like the CLI flags."""
        job_id = new_job_id()
        part = layout.partial_upload(job_id)
        try:
            form = await receive_form(request.headers.get("content-type"),
                                      request.headers.get("content-length"),
                                      request.stream(), part, config.max_upload)
        except UploadError as exc:
            log.info("upload refused (%d): %s", exc.status, exc.message)
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        try:
            job = await run_in_threadpool(_accept, job_id, part, form)
        except (InputError, FluidFramesError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        except OSError as exc:
            return JSONResponse({"detail": f"cannot store the upload: {exc.strerror or exc}"},
                                status_code=507 if exc.errno == 28 else 500)
        finally:
            part.unlink(missing_ok=True)
        changes.bump(job.id)
        runner.notify()
        return JSONResponse(job_view(job), status_code=201)

    def _accept(job_id: str, part: Path, form) -> Job:
        from ..video.reader import probe

        name = clean_filename(form.filename)
        if not form.has_file:
            raise InputError("no video: send the file in the multipart field 'file'")
        if form.file_size == 0:
            raise InputError(f"{name} is empty (0 bytes)")
        opts = parse_fields(form.fields, custom_model=custom_model,
                            default_model=config.model.model)
        try:
            info = probe(part)
        except FluidFramesError as exc:
            reason = str(exc).replace(str(part), name)
            raise InputError(f"{name} is not a video fluidframes can read ({reason})") from None
        if info.frame_count is not None and info.frame_count < 2:
            raise InputError(f"{name} has {info.frame_count} frame(s): need at least two")
        job_dir = layout.job_dir(job_id)
        job_dir.mkdir(parents=True)
        input_file = "source" + source_suffix(name)
        os.replace(part, job_dir / input_file)
        source = {"width": info.width, "height": info.height, "fps": str(info.rate),
                  "frames": info.frame_count,
                  "duration": float(info.duration) if info.duration else None,
                  "codec": info.codec, "container": info.container, "audio": len(info.audio),
                  "vfr": info.vfr}
        job = Job(id=job_id, seq=0, status="queued", filename=name, input_file=input_file,
                  input_size=form.file_size, options=opts.pipeline, format=opts.format,
                  source=source, created=time.time())
        return store.add(job)

    @app.get("/api/jobs", tags=["jobs"])
    def list_jobs() -> list[dict[str, Any]]:
        """All jobs, newest first."""
        return [job_view(j) for j in store.list()]

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def read_job(job_id: str) -> dict[str, Any]:
        return job_view(get_job(job_id))

    @app.post("/api/jobs/{job_id}/cancel", tags=["jobs"])
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job (a finished job is left as it is)."""
        job = get_job(job_id)
        if store.update(job_id, expect=("queued",), status="cancelled",
                        error="cancelled before it started", finished=time.time()):
            changes.bump(job_id)
        elif job.status == "running" or runner.is_running(job_id):
            runner.cancel(job_id)
            runner.wait_idle(job_id, 10.0)
        return job_view(get_job(job_id))

    @app.post("/api/jobs/{job_id}/rerun", tags=["jobs"])
    def rerun_job(job_id: str) -> dict[str, Any]:
        """Queue a finished, failed, cancelled or interrupted job again (same input)."""
        job = get_job(job_id)
        if job.status in ("queued", "running"):
            raise HTTPException(409, f"job is {job.status}; cancel it first")
        runner.reset(job_id)
        layout.clear_output(job_id)
        store.update(job_id, expect=tuple(s for s in STATUSES if s not in ("queued", "running")),
                     status="queued", error=None, output_file=None, output_size=None,
                     summary=None, started=None, finished=None, frames_out=0, frames_in=0,
                     frames_total=None, elapsed=0.0, fps=0.0, eta=None)
        changes.bump(job_id)
        runner.notify()
        return job_view(get_job(job_id))

    @app.delete("/api/jobs/{job_id}", status_code=204, tags=["jobs"])
    def delete_job(job_id: str) -> Response:
        """Remove a job with its files (a running job is cancelled first)."""
        get_job(job_id)
        runner.cancel(job_id)
        if not runner.wait_idle(job_id, 15.0):
            raise HTTPException(409, "the job is still stopping; try again in a moment")
        store.delete(job_id)
        layout.remove_job(job_id)
        runner.reset(job_id)
        changes.bump(job_id)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/result", tags=["files"])
    def job_result(job_id: str, inline: bool = False) -> FileResponse:
        """The output file (``?inline=1`` to play it in the page rather than download)."""
        job = get_job(job_id)
        if job.status != "done" or not job.output_file:
            raise HTTPException(409, f"no result: the job is {job.status}")
        path = layout.job_dir(job_id) / job.output_file
        if not path.is_file():
            raise HTTPException(410, "the result file is gone from the server's data folder")
        return FileResponse(path, media_type=MIME[job.format], headers={
            "Content-Disposition": content_disposition(download_name(job), inline=inline)})

    @app.get("/api/jobs/{job_id}/source", tags=["files"])
    def job_source(job_id: str) -> FileResponse:
        """The uploaded original, for side-by-side playback."""
        job = get_job(job_id)
        path = layout.job_dir(job_id) / job.input_file
        mime = {".webm": "video/webm", ".mkv": "video/x-matroska", ".mov": "video/quicktime",
                ".gif": "image/gif"}.get(path.suffix, "video/mp4")
        return FileResponse(path, media_type=mime, headers={
            "Content-Disposition": content_disposition(job.filename, inline=True)})

    @app.get("/api/jobs/{job_id}/preview", tags=["files"])
    async def job_preview(job_id: str, which: str = "result") -> FileResponse:
        """A VP9 WebM rendition any browser plays (made on first request, then cached)."""
        from .preview import make_preview

        job = get_job(job_id)
        if which not in ("result", "source"):
            raise HTTPException(400, "which must be 'result' or 'source'")
        if which == "result":
            if job.status != "done" or not job.output_file:
                raise HTTPException(409, f"no result: the job is {job.status}")
            src = layout.job_dir(job_id) / job.output_file
        else:
            src = layout.job_dir(job_id) / job.input_file
        dst = layout.job_dir(job_id) / f"preview-{which}.webm"
        try:
            await run_in_threadpool(make_preview, src, dst)
        except FluidFramesError as exc:
            raise HTTPException(500, f"cannot make a preview: {exc}") from None
        return FileResponse(dst, media_type="video/webm")

    @app.get("/api/jobs/{job_id}/events", tags=["jobs"],
             response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`job` events (the job JSON) until it ends"}})
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: the job on every change; the stream ends when the job does."""
        get_job(job_id)

        async def stream():
            seen, pinged = -1, time.monotonic()
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                v = changes.of(job_id)
                if v != seen:
                    seen = v
                    job = store.get(job_id)
                    if job is None:
                        yield _sse("deleted", {"id": job_id})
                        return
                    yield _sse("job", job_view(job))
                    if job.terminal and not runner.is_running(job_id):
                        yield _sse("end", {"id": job_id, "status": job.status})
                        return
                elif time.monotonic() - pinged > SSE_PING:
                    pinged = time.monotonic()
                    yield ": ping\n\n"
                await asyncio.sleep(SSE_POLL)

        return _event_stream(stream())

    @app.get("/api/events", tags=["jobs"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`job` and `deleted` events for every job"}})
    async def all_events(request: Request) -> StreamingResponse:
        """Server-sent events for all jobs on one connection (what the page uses: browsers
        allow only ~6 connections per server, so one stream per job would starve downloads)."""

        async def stream():
            seen: dict[str, int] = {}
            total, pinged = -1, time.monotonic()
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                if changes.total != total:
                    total = changes.total
                    jobs = store.list()
                    ids = {j.id for j in jobs}
                    for job in reversed(jobs):
                        v = changes.of(job.id)
                        if seen.get(job.id) != v:
                            seen[job.id] = v
                            yield _sse("job", job_view(job))
                    for gone in set(seen) - ids:
                        del seen[gone]
                        yield _sse("deleted", {"id": gone})
                elif time.monotonic() - pinged > SSE_PING:
                    pinged = time.monotonic()
                    yield ": ping\n\n"
                await asyncio.sleep(SSE_POLL)

        return _event_stream(stream())

    return app
