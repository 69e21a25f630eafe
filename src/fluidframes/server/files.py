"""Where a job's files live, and how client-supplied names are tamed.

A client's filename is never used to build a path: the upload is stored as
``jobs/<job id>/source<.ext>`` (the extension only when it is a known video extension) and the
result as ``jobs/<job id>/output/result.<format>``. The original name is kept as metadata, cleaned
by :func:`clean_filename`, and only ever reaches a ``Content-Disposition`` header through
:func:`content_disposition` (ASCII fallback + RFC 5987 UTF-8 form).
"""

from __future__ import annotations

import re
import secrets
import shutil
import unicodedata
from pathlib import Path
from urllib.parse import quote

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".y4m",
})
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def new_job_id() -> str:
    return secrets.token_hex(8)


def valid_job_id(job_id: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{16}", job_id))


def clean_filename(name: str | None, fallback: str = "video") -> str:
    """The last component of a client name, without controls, separators or leading dots."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name or fallback


def source_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in VIDEO_EXTENSIONS else ".bin"


def content_disposition(filename: str, inline: bool = False) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded``."""
    clean = clean_filename(filename, "download")
    ascii_name = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ ()+-]", "_", ascii_name).strip() or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


class Layout:
    """Paths under the data folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs = root / "jobs"
        self.uploads = root / "uploads"  # bodies being received (partial)
        self.db = root / "jobs.sqlite3"
        #: segment work folders of running and interrupted jobs (kept under --data, not in the
        #: user cache; stale ones are pruned by the pipeline, see fluidframes.segments)
        self.work = root / "work"
        for d in (self.jobs, self.uploads):
            d.mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        if not valid_job_id(job_id):  # defence in depth: ids are ours, never the client's
            raise ValueError(f"bad job id {job_id!r}")
        return self.jobs / job_id

    def output_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "output"

    def partial_upload(self, job_id: str) -> Path:
        return self.uploads / f"{job_id}.part"

    def clear_output(self, job_id: str) -> None:
        """Remove a previous result and any temporary files a killed run left behind."""
        shutil.rmtree(self.output_dir(job_id), ignore_errors=True)
        for p in self.job_dir(job_id).glob("preview-*.webm"):
            p.unlink(missing_ok=True)

    def remove_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        self.partial_upload(job_id).unlink(missing_ok=True)

    def clean_partial_uploads(self) -> None:
        for p in self.uploads.glob("*.part"):
            p.unlink(missing_ok=True)
