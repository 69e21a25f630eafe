"""Form fields of ``POST /api/jobs`` -> keyword options for :func:`interpolate_video`.

Field names follow the CLI flags (``multi``, ``exp``, ``fps``, ``slowmo``, ``model``, ``montage``,
``no_scene_detect``/``scene_detect``, ``dedup``, ``crf`` ...) plus ``format`` (the output
container, which the CLI takes from the output file name). Machine-level choices (device,
precision, custom model files) belong to the server's own flags, never to a request: a client
must not name paths on the server.

Validation happens here, before the job is queued, by asking the pipeline's own types
(:class:`Options`, ``rate_spec``, ``output_kind``, the model registry) so that a bad request is a
400 with the pipeline's message rather than a job that fails later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FluidFramesError, InputError

FORMATS = ("mp4", "webm", "mkv", "mov", "gif")
MIME = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska",
        "mov": "video/quicktime", "gif": "image/gif"}

_BOOL_TRUE = {"1", "true", "on", "yes"}
_BOOL_FALSE = {"0", "false", "off", "no", ""}


def _to_bool(name: str, v: str) -> bool:
    s = v.strip().lower()
    if s in _BOOL_TRUE:
        return True
    if s in _BOOL_FALSE:
        return False
    raise InputError(f"field {name}: expected true or false, got {v!r}")


def _to_int(name: str, v: str) -> int | None:
    if not v.strip():
        return None
    try:
        return int(v)
    except ValueError:
        raise InputError(f"field {name}: expected an integer, got {v!r}") from None


def _to_float(name: str, v: str) -> float | None:
    if not v.strip():
        return None
    try:
        return float(v)
    except ValueError:
        raise InputError(f"field {name}: expected a number, got {v!r}") from None


def _to_str(name: str, v: str) -> str | None:
    return v.strip() or None


_FIELDS = {
    "multi": _to_int, "exp": _to_int, "fps": _to_str, "slowmo": _to_bool, "audio": _to_str,
    "model": _to_str, "scale": _to_float, "montage": _to_bool, "scene_detect": _to_bool,
    "no_scene_detect": _to_bool, "scene_threshold": _to_float, "dedup": _to_bool,
    "codec": _to_str, "crf": _to_int, "preset": _to_str, "pix_fmt": _to_str, "format": _to_str,
}
FIELD_NAMES = tuple(_FIELDS)


@dataclass
class JobOptions:
    """Validated options: ``pipeline`` goes to interpolate_video, ``format`` picks the file."""

    pipeline: dict[str, Any]
    format: str


def parse_fields(fields: dict[str, str], *, custom_model: str | None,
                 default_model: str | None) -> JobOptions:
    """Raise :class:`InputError` with a one-line message for anything wrong."""
    from ..models import registry
    from ..pipeline import Options
    from ..video.writer import output_kind

    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    vals = {k: _FIELDS[k](k, v) for k, v in fields.items()}
    vals = {k: v for k, v in vals.items() if v is not None}
    fmt = (vals.pop("format", None) or "mp4").lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    output_kind(f"result.{fmt}")
    if "no_scene_detect" in vals:
        nsd = vals.pop("no_scene_detect")
        if "scene_detect" in vals and vals["scene_detect"] == nsd:
            raise InputError("scene_detect and no_scene_detect disagree")
        vals["scene_detect"] = not nsd
    if vals.get("crf") is not None and not 0 <= vals["crf"] <= 63:
        raise InputError(f"crf must be between 0 and 63, got {vals['crf']}")
    if vals.get("audio") not in (None, "stretch", "drop"):
        raise InputError("audio must be 'stretch' or 'drop'")
    model = vals.get("model")
    if custom_model is not None:
        if model not in (None, custom_model):
            raise InputError(f"this server offers only the model {custom_model!r}")
        vals["model"] = custom_model
    else:
        vals["model"] = model or default_model or registry.DEFAULT_MODEL
        try:
            registry.get_spec(vals["model"])
        except FluidFramesError as exc:
            raise InputError(str(exc)) from None
    scale = vals.get("scale")
    if scale is not None:
        from ..engine import SCALES

        if scale not in SCALES:
            raise InputError(f"scale must be one of {', '.join(f'{s:g}' for s in SCALES)}")
    try:
        Options(**vals).rate_spec()
    except (TypeError, ValueError) as exc:  # InputError is a ValueError
        raise InputError(str(exc)) from None
    return JobOptions(pipeline=vals, format=fmt)
