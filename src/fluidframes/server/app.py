"""The FastAPI app: REST under ``/api``, live progress as server-sent events, the page at ``/``.

This is the shell: it builds the shared state (:mod:`.state`), runs the worker for the app's
lifespan, puts :mod:`.security` in front and includes the routers of :mod:`.routes`. Routes are
thin: uploads go through :mod:`.uploads`, whether a request becomes a job through
:mod:`.admission` (options, limits), the work through :mod:`.runner` (which calls the pipeline).
Errors are ``{"detail": "<one line>"}`` (a refused upload adds ``"field"``: the option or
``"file"`` it is about, so the page can point at it). Everything a client receives goes through
:mod:`.views` and :mod:`.public`: names instead of server paths, no NaN.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .. import __version__
from .config import ServerConfig
from .routes import ROUTERS
from .security import SecurityMiddleware, install_log_redaction
from .state import ServerState

STATIC = Path(__file__).with_name("static")


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Recover from the last run, run the worker while the app runs, stop it after."""
    state: ServerState = app.state.server
    state.recover()
    if app.state.start_worker:
        state.runner.start()
    try:
        yield
    finally:
        await run_in_threadpool(state.runner.stop)
        state.store.close()


def index() -> Response:
    # /?token=T is answered by the security middleware (cookie + redirect to /)
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def create_app(config: ServerConfig, *, start_worker: bool = True) -> FastAPI:
    """Build the app for ``config``; the worker starts and stops with the app's lifespan."""
    state = ServerState.build(config)
    install_log_redaction()
    app = FastAPI(title="fluidframes", version=__version__, lifespan=lifespan,
                  description="AI frame interpolation (RIFE) as a local web app and HTTP API.")
    app.add_middleware(SecurityMiddleware, config=config)
    state.install(app)
    app.state.start_worker = start_worker
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
