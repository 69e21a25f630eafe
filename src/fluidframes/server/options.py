"""Form fields of ``POST /api/jobs`` -> validated options for the pipeline.

The fields are the web options of :mod:`fluidframes.options` (named like the CLI flags:
``multi``, ``exp``, ``fps``, ``slowmo``, ``model``, ``scale``, ``scene_threshold``, ``crf`` ...),
coerced and bounds-checked there with the same messages as the CLI and the Python API, plus
``format`` (the output container, which the CLI takes from the output file name). Machine-level
choices (device, threads, model files) belong to the server's own flags, never to a request: a
client must not name paths on the server. A bad request is a 400 before a job exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..options import json_schema, parse_form

FORMATS = ("mp4", "webm", "mkv", "mov", "gif")
MIME = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska",
        "mov": "video/quicktime", "gif": "image/gif"}


@dataclass
class JobOptions:
    """Validated options: ``pipeline`` goes to interpolate_video, ``format`` picks the file."""

    pipeline: dict[str, Any]
    format: str


def parse_fields(fields: dict[str, str], *, custom_model: str | None,
                 default_model: str | None) -> JobOptions:
    """Raise :class:`InputError` with a one-line message for anything wrong."""
    from ..models.registry import DEFAULT_MODEL

    vals = dict(fields)
    fmt = (vals.pop("format", "") or "mp4").strip().lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    model = (vals.pop("model", "") or "").strip() or None
    if custom_model is not None and model not in (None, custom_model):
        raise InputError(f"this server offers only the model {custom_model!r}")
    if custom_model is None:
        vals["model"] = model or default_model or DEFAULT_MODEL
    return JobOptions(pipeline=parse_form(vals), format=fmt)


def upload_schema() -> dict[str, Any]:
    """The OpenAPI request body of ``POST /api/jobs``, from the options' specs."""
    props: dict[str, Any] = {"file": {"type": "string", "format": "binary",
                                      "description": "the video"}}
    props.update(json_schema())
    props["format"] = {"type": "string", "enum": list(FORMATS), "default": "mp4",
                       "description": "output container"}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": props}}}}}
