"""What may leave the server: names instead of paths, finite numbers, readable media errors.

Every response body and every server-sent event passes through here:

* :func:`scrub` replaces the server's own paths (the job's files, the data folder, the work
  folder) with the names the user knows (the upload's name, the result's download name), and
  any other absolute path with its last component, so no response reveals where files live;
* :func:`finite` turns NaN and infinities into ``null`` (``JSON.parse`` rejects ``NaN``), and
  :func:`dumps` refuses them outright, so a bad number can never reach a client as invalid JSON;
* :func:`media_error` words a probe failure ("[Errno 1094995529] Invalid data found ...") as a
  sentence about the user's file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

# An absolute path: a slash at the start of a word (not "60000/1001", not "ray://host"),
# then at least one more component.
_ABS_PATH = re.compile(r"(?<![\w.:/~-])~?/(?:[^\s'\"/<>|,;()\[\]]+/)+([^\s'\"/<>|,;()\[\]]*)")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def scrub(text: str, names: Mapping[str, str] | None = None) -> str:
    """``text`` with each known path replaced by its public name, other paths by their last
    component. Longer paths are replaced first (a file before its folder)."""
    for path in sorted(names or {}, key=len, reverse=True):
        if path:
            text = text.replace(path, names[path])
    return _ABS_PATH.sub(lambda m: m.group(1) or "…", text)


def scrub_all(value: Any, names: Mapping[str, str] | None = None) -> Any:
    """:func:`scrub` on every string inside ``value`` (dicts, lists), numbers made finite."""
    if isinstance(value, str):
        return scrub(value, names)
    if isinstance(value, Mapping):
        return {k: scrub_all(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_all(v, names) for v in value]
    return finite(value)


def finite(value: Any) -> Any:
    """NaN/inf -> None, recursively; everything else as it is."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON (no NaN/Infinity tokens, ever): non-finite numbers become null."""
    return json.dumps(finite(value), default=str, allow_nan=False)


def media_error(name: str, exc: BaseException, paths: Mapping[str, str]) -> str:
    """A one-line reason why ``name`` could not be used as a video."""
    raw = scrub(str(exc), paths)
    raw = _ERRNO.sub("", raw)
    low = raw.lower()
    if "invalid data found" in low:
        return (f"{name} is not a video fluidframes can read: its contents are not in any "
                "video format FFmpeg knows")
    if "no video stream" in low:
        return f"{name} has no video track (audio only or another kind of file)"
    if "zero frames" in low or "no decodable frames" in low:
        return f"{name} has no frames that can be decoded (damaged or cut short)"
    # keep FFmpeg's own words, minus the path, the errno and our own "not a video:" prefix
    reason = re.sub(r":\s*'[^']*'\s*$", "", raw).strip().rstrip(".")
    m = re.search(r"\((.*)\)$", reason)
    reason = m.group(1) if m else reason
    return f"{name} cannot be read as a video ({reason[:160]})"


__all__ = ["dumps", "finite", "media_error", "scrub", "scrub_all"]
