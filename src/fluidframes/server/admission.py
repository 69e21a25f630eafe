"""Whether a request becomes a job: an upload (``POST /api/jobs``) or "render this preview
whole" (``POST /api/jobs/{id}/render``).

Everything is decided before a job exists: the options (:mod:`.options`), the preview window
(:mod:`.clip`), the file itself (probed), the pipeline's own plan of the run and this server's
limits (:mod:`.limits`). A request that fails any of them raises :class:`Refused` (a 400 naming
the field it is about) and leaves nothing stored. No FastAPI here: the routes translate.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import FluidFramesError, InputError
from ..options import Spec, coerce, web_fields
from .clip import PREVIEW_SECONDS, clip_name, window
from .config import PREVIEW_MAX_SECONDS, ServerConfig
from .files import Layout, clean_filename, new_job_id, source_suffix
from .limits import check_work, plan_work
from .options import JobOptions, parse_fields
from .public import media_error, scrub
from .store import Job, JobStore
from .uploads import ReceivedForm

#: Form fields of an upload that are not run options: the preview window.
PREVIEW_FIELDS = {
    "preview_at": Spec("float", "seconds into the video to preview around", min=0.0,
                       max=1e7),
    "preview_seconds": Spec("float", "length of the preview", min=0.2,
                            max=PREVIEW_MAX_SECONDS),
}
RENDER_BODY_MAX = 16384  # bytes of JSON a "render whole" request may send


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


def render_fields(body: bytes) -> dict[str, str] | None:
    """The fields of a "render whole" request's JSON body (None: keep the preview's options),
    as text, named and valued as the form fields of an upload."""
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or len(body) > RENDER_BODY_MAX:
        raise Refused("send the options as a JSON object of fields")
    return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in data.items()}


def _source_facts(info, duration: float | None) -> dict[str, Any]:
    """What a job records about its upload (shown by the page)."""
    return {"width": info.width, "height": info.height, "fps": str(info.rate),
            "frames": info.frame_count, "duration": duration,
            "codec": info.codec, "container": info.container, "audio": len(info.audio),
            "vfr": info.vfr, "rotation": info.rotation}


class Admission:
    """Turns requests into queued jobs of ``store``, within ``config``'s limits."""

    def __init__(self, config: ServerConfig, layout: Layout, store: JobStore) -> None:
        self.config, self.layout, self.store = config, layout, store

    def options(self, fields: dict[str, str]) -> JobOptions:
        """The run options of form ``fields`` (a bad one: :class:`Refused` naming it)."""
        try:
            return parse_fields(fields, custom_model=self.config.custom_model,
                                default_model=self.config.model.model)
        except InputError as exc:
            raise Refused(str(exc), field_of(str(exc))) from None

    def plan(self, src: Path, name: str, job_id: str, opts: JobOptions,
             clip_window: tuple[float, float] | None = None) -> None:
        """The pipeline's own plan of the run plus this server's limits, before a job exists."""
        dst = self.layout.output_dir(job_id) / f"result.{opts.format}"
        paths = {str(src): name, str(self.layout.root): ""}
        try:
            _, work = plan_work(src, dst, opts.pipeline, clip_window)
            check_work(work, self.config, name)
        except FluidFramesError as exc:
            msg = scrub(str(exc), paths)
            raise Refused(msg, field_of(msg)) from None

    def accept(self, job_id: str, part: Path, form: ReceivedForm) -> Job:
        """An upload received into ``part`` -> a queued job (the file moved into its folder)."""
        from ..video.reader import probe

        name = clean_filename(form.filename)
        if not form.has_file:
            raise Refused("no video: send the file in the multipart field 'file'", "file")
        if form.file_size == 0:
            raise Refused(f"{name} is empty (0 bytes)", "file")
        fields = dict(form.fields)
        preview = {k: coerce(k, spec, fields.pop(k, None)) for k, spec in PREVIEW_FIELDS.items()}
        opts = self.options(fields)  # bad options: 400 before the file is even looked at
        try:
            info = probe(part)
        except FluidFramesError as exc:
            raise Refused(media_error(name, exc, {str(part): name}), "file") from None
        if info.frame_count is not None and info.frame_count < 2:
            raise Refused(f"{name} has {info.frame_count} frame(s): need at least two", "file")
        duration = float(info.duration) if info.duration else None
        clip = _clip(preview, duration, info.has_alpha)
        self.plan(part, name, job_id, opts, (clip["start"], clip["seconds"]) if clip else None)
        job_dir = self.layout.job_dir(job_id)
        job_dir.mkdir(parents=True)
        input_file = "source" + source_suffix(name)
        os.replace(part, job_dir / input_file)
        job = Job(id=job_id, seq=0, status="queued", filename=name, input_file=input_file,
                  input_size=form.file_size, options=opts.pipeline, format=opts.format,
                  source=_source_facts(info, duration), created=time.time(),
                  kind="preview" if clip else "full", clip=clip)
        return self.store.add(job)

    def render_full(self, preview: Job, fields: dict[str, str] | None) -> Job:
        """A full job on a preview's upload (linked, not copied), with its or new options."""
        if preview.kind != "preview":
            raise Refused("only a preview can be rendered whole; use rerun for this job")
        if fields is None:
            fields = {k: str(v) for k, v in preview.options.items()}
            fields["format"] = preview.format
            if self.config.custom_model is not None:
                fields.pop("model", None)
        opts = self.options(fields)
        src = self.layout.job_dir(preview.id) / preview.input_file
        job_id = new_job_id()
        self.plan(src, preview.filename, job_id, opts)
        self._share_input(src, job_id, preview.input_file)
        job = Job(id=job_id, seq=0, status="queued", filename=preview.filename,
                  input_file=preview.input_file, input_size=preview.input_size,
                  options=opts.pipeline, format=opts.format, source=preview.source,
                  created=time.time())
        return self.store.add(job)

    def _share_input(self, src: Path, job_id: str, input_file: str) -> None:
        """Give the new job ``job_id`` the file ``src`` (a hard link, else a copy)."""
        job_dir = self.layout.job_dir(job_id)
        job_dir.mkdir(parents=True)
        try:
            try:
                os.link(src, job_dir / input_file)
            except OSError:
                shutil.copyfile(src, job_dir / input_file)
        except BaseException:
            self.layout.remove_job(job_id)
            raise


def _clip(preview: dict[str, float | None], duration: float | None,
          has_alpha: bool) -> dict[str, Any] | None:
    """The preview window an upload asked for (None: render the whole file)."""
    if preview["preview_at"] is None and preview["preview_seconds"] is None:
        return None
    start, seconds = window(preview["preview_at"] or 0.0,
                            preview["preview_seconds"] or PREVIEW_SECONDS, duration)
    return {"start": round(start, 6), "seconds": round(seconds, 6), "file": clip_name(has_alpha)}


__all__ = ["PREVIEW_FIELDS", "Admission", "Refused", "field_of", "render_fields"]
