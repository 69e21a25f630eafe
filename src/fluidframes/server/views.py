"""What a client sees of a job: the JSON view, the result's download name, and the map from
the server's paths to the names the user knows (for :func:`.public.scrub`).

No FastAPI here: the routes and the event streams both render jobs through :func:`job_view`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from .files import Layout
from .options import MIME
from .public import finite, scrub, scrub_all
from .store import Job


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


def _urls(job: Job) -> dict[str, str]:
    """The job's own URLs (relative, token-free); the result's only once there is one."""
    base = f"/api/jobs/{job.id}"
    urls = {"self": base, "events": f"{base}/events", "source": f"{base}/source",
            "source_preview": f"{base}/preview?which=source"}
    if job.kind == "preview":
        urls["render"] = f"{base}/render"
    if job.status == "done" and job.output_file:
        urls["result"] = f"{base}/result"
        urls["result_preview"] = f"{base}/preview?which=result"
    return urls


def _progress(job: Job) -> dict[str, Any]:
    total = job.frames_total
    return {"frames_out": job.frames_out, "frames_total": total, "frames_in": job.frames_in,
            "elapsed": job.elapsed, "fps": job.fps, "eta": job.eta,
            "percent": round(100.0 * job.frames_out / total, 1) if total else None}


def job_view(job: Job, layout: Layout) -> dict[str, Any]:
    """The JSON a client sees: URLs relative and token-free, names never server paths,
    numbers finite."""
    names = public_names(job, layout)
    result = None
    if job.status == "done" and job.output_file:
        result = {"name": download_name(job), "size": job.output_size,
                  "media_type": MIME[job.format]}
    return finite({
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
        "progress": _progress(job),
        "result": result,
        "summary": public_summary(job, names),
        "urls": _urls(job),
    })


__all__ = ["download_name", "job_view", "public_names", "public_summary"]
