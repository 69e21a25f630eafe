"""The FastAPI app: REST under ``/api``, live progress as server-sent events, the page at ``/``.

Routes are thin: uploads go through :mod:`.uploads`, options through :mod:`.options`, the
work-per-job limits through :mod:`.limits`, the work through :mod:`.runner` (which calls the
pipeline). Errors are ``{"detail": "<one line>"}`` (a refused upload adds ``"field"``: the
option or ``"file"`` it is about, so the page can point at it). Everything a client receives
goes through :mod:`.public`: names instead of server paths, no NaN.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
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
from ..options import Spec, coerce, json_schema, web_fields
from .clip import PREVIEW_SECONDS, clip_name, window
from .config import PREVIEW_MAX_SECONDS, ServerConfig
from .files import (
    Layout,
    clean_filename,
    content_disposition,
    new_job_id,
    source_suffix,
    valid_job_id,
)
from .options import FORMATS, MIME, parse_fields, upload_schema
from .limits import check_work, plan_work
from .public import dumps, finite, media_error, scrub, scrub_all
from .runner import Changes, Runner
from .security import SecurityMiddleware, install_log_redaction
from .store import STATUSES, Job, JobStore
from .uploads import UploadError, human_size, receive_form

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SSE_POLL = 0.25  # seconds
SSE_PING = 15.0
CANCEL_WAIT = 3.0  # seconds a cancel request waits for the job to stop
#: Form fields of an upload that are not run options: the preview window.
PREVIEW_FIELDS = {
    "preview_at": Spec("float", "seconds into the video to preview around", min=0.0,
                       max=1e7),
    "preview_seconds": Spec("float", "length of the preview", min=0.2,
                            max=PREVIEW_MAX_SECONDS),
}


class Refused(InputError):
    """A 400 about one field of the upload (an option's name, ``file`` or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def field_of(message: str) -> str | None:
    """The option a validation message is about (they start with its name)."""
    first = message.split(" ", 1)[0].rstrip(":,")
    if first in web_fields() or first in PREVIEW_FIELDS or first == "format":
        return first
    low = message.lower()
    if "pixel format" in low:
        return "pix_fmt"
    if "codec" in low:
        return "codec"
    if low.startswith("give either multi or exp"):
        return "multi"
    return None


def _event_stream(events) -> StreamingResponse:
    """A server-sent-events response that proxies and caches leave alone."""
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def download_name(job: Job) -> str:
    """The name the CLI would give the result (``clip_2X_50fps.mp4``; a preview's
    ``clip_preview_2X_50fps.mp4``)."""
    from ..naming import output_tag

    stem = Path(job.filename).stem or "video"
    if job.kind == "preview":
        stem += "_preview"
    tag = "fluidframes"
    sm = job.summary
    if sm and sm.get("output_rate") and sm.get("source_rate"):
        out_rate, tempo = Fraction(sm["output_rate"]), Fraction(sm.get("tempo") or 1)
        slowmo = bool(job.options.get("slowmo"))
        factor = 1 / tempo if slowmo else out_rate / Fraction(sm["source_rate"])
        tag = output_tag(out_rate, factor, slowmo)
    return f"{stem}_{tag}.{job.format}"


def public_names(job: Job, layout: Layout) -> dict[str, str]:
    """Server paths of a job -> the names the user knows them by."""
    job_dir = layout.job_dir(job.id)
    names = {str(job_dir / job.input_file): job.filename,
             str(layout.partial_upload(job.id)): job.filename,
             str(layout.root): "", str(layout.root.resolve()): ""}
    if job.clip and job.clip.get("file"):
        names[str(job_dir / job.clip["file"])] = f"preview clip of {job.filename}"
    out = layout.output_dir(job.id) / f"result.{job.format}"
    names[str(out)] = names[str(out.resolve())] = download_name(job)
    names[str(job_dir)] = names[str(job_dir.resolve())] = ""
    return names


def public_summary(job: Job, names: dict[str, str]) -> dict[str, Any] | None:
    """The run summary with names for paths (``input``, ``output``, ``audio.path``)."""
    if not job.summary:
        return None
    sm = dict(job.summary)
    sm["input"] = job.filename
    sm["output"] = download_name(job) if job.output_file else None
    if isinstance(sm.get("audio"), dict):
        sm["audio"] = {k: v for k, v in sm["audio"].items() if k != "path"}
    return scrub_all(sm, names)


def job_view(job: Job, layout: Layout) -> dict[str, Any]:
    """The JSON a client sees: URLs relative and token-free, names never server paths,
    numbers finite."""
    total = job.frames_total
    base = f"/api/jobs/{job.id}"
    names = public_names(job, layout)
    view: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "clip": {"start": job.clip["start"], "seconds": job.clip["seconds"]} if job.clip else None,
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
        "error": scrub(job.error, names) if job.error else None,
        "progress": {
            "frames_out": job.frames_out, "frames_total": total, "frames_in": job.frames_in,
            "elapsed": job.elapsed, "fps": job.fps, "eta": job.eta,
            "percent": round(100.0 * job.frames_out / total, 1) if total else None,
        },
        "result": None,
        "summary": public_summary(job, names),
        "urls": {"self": base, "events": f"{base}/events", "source": f"{base}/source",
                 "source_preview": f"{base}/preview?which=source"},
    }
    if job.kind == "preview":
        view["urls"]["render"] = f"{base}/render"
    if job.status == "done" and job.output_file:
        view["result"] = {"name": download_name(job), "size": job.output_size,
                          "media_type": MIME[job.format]}
        view["urls"]["result"] = f"{base}/result"
        view["urls"]["result_preview"] = f"{base}/preview?which=result"
    return finite(view)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {dumps(data)}\n\n"


def create_app(config: ServerConfig, *, start_worker: bool = True) -> FastAPI:
    """Build the app for ``config``; the worker starts and stops with the app's lifespan."""
    layout = Layout(config.data_dir)
    store = JobStore(layout.db)
    changes = Changes()
    runner = Runner(store, layout, config, changes)
    custom_model = config.custom_model
    install_log_redaction()

    def view(job: Job) -> dict[str, Any]:
        return job_view(job, layout)

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
    def index() -> Response:
        # /?token=T is answered by the security middleware (cookie + redirect to /)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

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
            models = registry.model_names()
            default = config.model.model or registry.DEFAULT_MODEL
        return {"models": models, "default_model": default, "formats": list(FORMATS),
                "max_upload": config.max_upload, "max_upload_text": human_size(config.max_upload),
                "device": config.model.device, "workers": config.workers,
                "statuses": list(STATUSES), "loaded_models": runner.models.loaded,
                "options": json_schema(),
                "limits": {"max_output_frames": config.max_output_frames,
                           "max_pixel_rate": config.max_pixel_rate,
                           "max_duration": config.max_duration},
                "preview": {"seconds": PREVIEW_SECONDS, "max_seconds": PREVIEW_MAX_SECONDS}}

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
        except Refused as exc:
            return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=400)
        except (InputError, FluidFramesError) as exc:
            msg = scrub(str(exc), {str(part): clean_filename(form.filename)})
            return JSONResponse({"detail": msg, "field": field_of(msg)}, status_code=400)
        except OSError as exc:
            layout.remove_job(job_id)
            return JSONResponse({"detail": f"cannot store the upload: {exc.strerror or exc}"},
                                status_code=507 if exc.errno == 28 else 500)
        finally:
            part.unlink(missing_ok=True)
        changes.bump(job.id)
        runner.notify()
        return JSONResponse(view(job), status_code=201)

    def _options(fields: dict[str, str]):
        try:
            return parse_fields(fields, custom_model=custom_model,
                                default_model=config.model.model)
        except InputError as exc:
            raise Refused(str(exc), field_of(str(exc))) from None

    def _plan(src: Path, name: str, job_id: str, opts, clip_window=None) -> None:
        """The pipeline's own plan of the run plus this server's limits, before a job exists."""
        dst = layout.output_dir(job_id) / f"result.{opts.format}"
        paths = {str(src): name, str(layout.root): ""}
        try:
            _, work = plan_work(src, dst, opts.pipeline, clip_window)
            check_work(work, config, name)
        except FluidFramesError as exc:
            msg = scrub(str(exc), paths)
            raise Refused(msg, field_of(msg)) from None

    def _accept(job_id: str, part: Path, form) -> Job:
        from ..video.reader import probe

        name = clean_filename(form.filename)
        if not form.has_file:
            raise Refused("no video: send the file in the multipart field 'file'", "file")
        if form.file_size == 0:
            raise Refused(f"{name} is empty (0 bytes)", "file")
        fields = dict(form.fields)
        preview = {k: coerce(k, spec, fields.pop(k, None)) for k, spec in PREVIEW_FIELDS.items()}
        opts = _options(fields)  # bad options: 400 before the file is even looked at
        try:
            info = probe(part)
        except FluidFramesError as exc:
            raise Refused(media_error(name, exc, {str(part): name}), "file") from None
        if info.frame_count is not None and info.frame_count < 2:
            raise Refused(f"{name} has {info.frame_count} frame(s): need at least two", "file")
        duration = float(info.duration) if info.duration else None
        clip = None
        if preview["preview_at"] is not None or preview["preview_seconds"] is not None:
            start, seconds = window(preview["preview_at"] or 0.0,
                                    preview["preview_seconds"] or PREVIEW_SECONDS, duration)
            clip = {"start": round(start, 6), "seconds": round(seconds, 6),
                    "file": clip_name(info.has_alpha)}
        _plan(part, name, job_id, opts, (clip["start"], clip["seconds"]) if clip else None)
        job_dir = layout.job_dir(job_id)
        job_dir.mkdir(parents=True)
        input_file = "source" + source_suffix(name)
        os.replace(part, job_dir / input_file)
        source = {"width": info.width, "height": info.height, "fps": str(info.rate),
                  "frames": info.frame_count, "duration": duration,
                  "codec": info.codec, "container": info.container, "audio": len(info.audio),
                  "vfr": info.vfr, "rotation": info.rotation}
        job = Job(id=job_id, seq=0, status="queued", filename=name, input_file=input_file,
                  input_size=form.file_size, options=opts.pipeline, format=opts.format,
                  source=source, created=time.time(), kind="preview" if clip else "full",
                  clip=clip)
        return store.add(job)

    def _render_full(preview: Job, fields: dict[str, str] | None) -> Job:
        """A full job on a preview's upload (linked, not copied), with its or new options."""
        if preview.kind != "preview":
            raise Refused("only a preview can be rendered whole; use rerun for this job")
        if fields is None:
            fields = {k: str(v) for k, v in preview.options.items()}
            fields["format"] = preview.format
            if custom_model is not None:
                fields.pop("model", None)
        opts = _options(fields)
        src = layout.job_dir(preview.id) / preview.input_file
        job_id = new_job_id()
        _plan(src, preview.filename, job_id, opts)
        job_dir = layout.job_dir(job_id)
        job_dir.mkdir(parents=True)
        try:
            try:
                os.link(src, job_dir / preview.input_file)
            except OSError:
                shutil.copyfile(src, job_dir / preview.input_file)
        except BaseException:
            layout.remove_job(job_id)
            raise
        job = Job(id=job_id, seq=0, status="queued", filename=preview.filename,
                  input_file=preview.input_file, input_size=preview.input_size,
                  options=opts.pipeline, format=opts.format, source=preview.source,
                  created=time.time())
        return store.add(job)

    @app.get("/api/jobs", tags=["jobs"])
    def list_jobs() -> list[dict[str, Any]]:
        """All jobs, newest first."""
        return [view(j) for j in store.list()]

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    def read_job(job_id: str) -> dict[str, Any]:
        return view(get_job(job_id))

    @app.post("/api/jobs/{job_id}/render", status_code=201, tags=["jobs"])
    async def render_job(job_id: str, request: Request) -> JSONResponse:
        """Render the whole file of a preview job: same upload, the preview's options (or the
        JSON object of fields sent, named as in ``POST /api/jobs``)."""
        preview = get_job(job_id)
        fields = None
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if not isinstance(data, dict) or len(body) > 16384:
                return JSONResponse({"detail": "send the options as a JSON object of fields",
                                     "field": None}, status_code=400)
            fields = {str(k): "" if v is None else str(v).lower() if isinstance(v, bool)
                      else str(v) for k, v in data.items()}
        try:
            job = await run_in_threadpool(_render_full, preview, fields)
        except Refused as exc:
            return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=400)
        changes.bump(job.id)
        runner.notify()
        return JSONResponse(view(job), status_code=201)

    @app.post("/api/jobs/{job_id}/cancel", tags=["jobs"])
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job (a finished job is left as it is). A running job
        stops within a second or two; the answer comes when it has (or after 3 s)."""
        job = get_job(job_id)
        if store.update(job_id, expect=("queued",), status="cancelled",
                        error="cancelled before it started", finished=time.time()):
            changes.bump(job_id)
        elif job.status == "running" or runner.is_running(job_id):
            runner.cancel(job_id)
            runner.wait_idle(job_id, CANCEL_WAIT)
        return view(get_job(job_id))

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
        return view(get_job(job_id))

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

    def source_path(job: Job) -> Path:
        """What the result was made from: the upload, or a preview's clip."""
        job_dir = layout.job_dir(job.id)
        if job.kind == "preview":
            clip = job_dir / job.clip["file"]
            if not clip.is_file():
                raise HTTPException(409, "the preview clip is not cut yet")
            return clip
        return job_dir / job.input_file

    @app.get("/api/jobs/{job_id}/source", tags=["files"])
    def job_source(job_id: str) -> FileResponse:
        """The original the result was made from (a preview's clip), for the comparison."""
        job = get_job(job_id)
        path = source_path(job)
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
            src = source_path(job)
        dst = layout.job_dir(job_id) / f"preview-{which}.webm"
        try:
            await run_in_threadpool(make_preview, src, dst)
        except FluidFramesError as exc:
            msg = scrub(str(exc), public_names(job, layout))
            raise HTTPException(500, f"cannot make a playable copy: {msg}") from None
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
                    yield _sse("job", view(job))
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
                            yield _sse("job", view(job))
                    for gone in set(seen) - ids:
                        del seen[gone]
                        yield _sse("deleted", {"id": gone})
                elif time.monotonic() - pinged > SSE_PING:
                    pinged = time.monotonic()
                    yield ": ping\n\n"
                await asyncio.sleep(SSE_POLL)

        return _event_stream(stream())

    return app
