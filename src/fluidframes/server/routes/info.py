"""``/api/health`` and ``/api/config``: about the server, not a job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ... import __version__
from ...options import json_schema
from ..clip import PREVIEW_SECONDS
from ..config import PREVIEW_MAX_SECONDS
from ..options import FORMATS
from ..state import Shared
from ..store import STATUSES
from ..uploads import human_size

router = APIRouter(prefix="/api", tags=["server"])


@router.get("/health")
def health() -> dict[str, Any]:
    """Liveness; answers without a token."""
    return {"status": "ok", "version": __version__}


@router.get("/config")
def server_config(state: Shared) -> dict[str, Any]:
    """What the page needs to build its form."""
    from ...models import registry

    config, custom_model = state.config, state.config.custom_model
    if custom_model:
        models, default = [custom_model], custom_model
    else:
        models = registry.model_names()
        default = config.model.model or registry.DEFAULT_MODEL
    return {"models": models, "default_model": default, "formats": list(FORMATS),
            "max_upload": config.max_upload, "max_upload_text": human_size(config.max_upload),
            "device": config.model.device, "workers": config.workers,
            "statuses": list(STATUSES), "loaded_models": state.runner.models.loaded,
            "options": json_schema(),
            "limits": {"max_output_frames": config.max_output_frames,
                       "max_pixel_rate": config.max_pixel_rate,
                       "max_duration": config.max_duration},
            "preview": {"seconds": PREVIEW_SECONDS, "max_seconds": PREVIEW_MAX_SECONDS}}
