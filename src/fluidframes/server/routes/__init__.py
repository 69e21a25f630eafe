"""The HTTP API under ``/api``, one router per concern; each route gets the shared state
through :data:`..state.Shared`.

``info`` (health, the page's configuration), ``jobs`` (upload, list, render whole, cancel,
rerun, delete), ``files`` (result, source, browser-playable renditions), ``events``
(server-sent events).
"""

from __future__ import annotations

from . import events, files, info, jobs

#: In the order the app includes them (the OpenAPI document lists paths in this order).
ROUTERS = (info.router, jobs.router, files.router, events.router)

__all__ = ["ROUTERS"]
