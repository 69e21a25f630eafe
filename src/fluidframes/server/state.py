"""What the routes share: one :class:`ServerState` per app, kept on ``app.state`` and handed to
each route by the :func:`get_state` dependency (annotate a parameter with :data:`Shared`).

``app.state.store``, ``.runner``, ``.layout`` and ``.config`` name the same objects, for tools
and tests that reach into a running app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from .admission import Admission
from .config import ServerConfig
from .files import Layout, valid_job_id
from .runner import Changes, Runner
from .store import Job, JobStore

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    config: ServerConfig
    layout: Layout
    store: JobStore
    changes: Changes  # bumped on every change of a job; the event streams poll it
    runner: Runner
    admission: Admission

    @classmethod
    def build(cls, config: ServerConfig) -> ServerState:
        layout = Layout(config.data_dir)
        store = JobStore(layout.db)
        changes = Changes()
        return cls(config=config, layout=layout, store=store, changes=changes,
                   runner=Runner(store, layout, config, changes),
                   admission=Admission(config, layout, store))

    def install(self, app: FastAPI) -> None:
        app.state.server = self
        app.state.store, app.state.runner, app.state.layout = self.store, self.runner, self.layout
        app.state.config = self.config

    def recover(self) -> None:
        """Tidy up after the last run of the server: jobs it left running are interrupted,
        their partial outputs and any half-received uploads removed."""
        interrupted = self.store.recover()
        if interrupted:
            log.warning("%d job(s) were running when the server stopped: marked interrupted",
                        len(interrupted))
        self.layout.clean_partial_uploads()
        for job_id in interrupted:
            self.layout.clear_output(job_id)

    def job(self, job_id: str) -> Job:
        """The job ``job_id`` (an HTTP 404 when there is none)."""
        job = self.store.get(job_id) if valid_job_id(job_id) else None
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    def queued(self, job_id: str) -> None:
        """Tell the event streams and the workers that ``job_id`` is (again) waiting."""
        self.changes.bump(job_id)
        self.runner.notify()


async def get_state(request: Request) -> ServerState:
    """The dependency every route gets the shared state through."""
    return request.app.state.server


Shared = Annotated[ServerState, Depends(get_state)]

__all__ = ["ServerState", "Shared", "get_state"]
