"""Receive ``multipart/form-data`` straight to disk, enforcing the size limit as bytes arrive.

FastAPI's ``UploadFile`` (Starlette's form parser) spools the whole body before the endpoint
runs, so a limit checked there comes after a 50 GiB upload has already filled the disk. Here the
request stream is fed chunk by chunk to python-multipart's push parser; file bytes go to a
job-id-named ``.part`` file and the moment the count passes the limit the request is answered 413
and the partial file deleted. A ``Content-Length`` above the limit is refused before reading.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

log = logging.getLogger(__name__)

FIELD_LIMIT = 16 * 1024  # bytes per ordinary form field
MAX_FIELDS = 64
BODY_OVERHEAD = 1024 * 1024  # multipart framing + fields allowed on top of the file limit


class UploadError(Exception):
    """A rejected upload: HTTP ``status`` and a one-line ``message`` for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # as the client sent it (untrusted)
    file_size: int = 0
    has_file: bool = False


class _Receiver:
    """python-multipart callbacks -> fields + one file written to ``dest``."""

    def __init__(self, dest: Path, limit: int, file_field: str) -> None:
        self.dest, self.limit, self.file_field = dest, limit, file_field
        self.form = ReceivedForm()
        self._headers: dict[bytes, bytes] = {}
        self._hname = b""
        self._hvalue = b""
        self._name: str | None = None
        self._is_file = False
        self._buf = bytearray()
        self._fh: BinaryIO | None = None

    # header callbacks
    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname, self._hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if name is None:
            raise UploadError(400, "a form part has no name")
        self._name = name.decode("utf-8", "replace")
        self._is_file = b"filename" in params
        if self._is_file:
            if self._name != self.file_field:
                raise UploadError(400, f"unexpected file field {self._name!r}; send the video as "
                                       f"{self.file_field!r}")
            if self.form.has_file:
                raise UploadError(400, "one video per request: send several requests for several")
            self.form.has_file = True
            self.form.filename = params[b"filename"].decode("utf-8", "replace")
            self._fh = open(self.dest, "wb")  # noqa: SIM115 - closed in on_part_end/cleanup
        elif len(self.form.fields) >= MAX_FIELDS:
            raise UploadError(400, "too many form fields")

    def on_part_begin(self) -> None:
        self._headers, self._buf = {}, bytearray()
        self._name, self._is_file = None, False

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.form.file_size += len(chunk)
            if self.form.file_size > self.limit:
                raise UploadError(413, f"the upload is larger than the limit of "
                                       f"{human_size(self.limit)}")
            assert self._fh is not None
            self._fh.write(chunk)
        else:
            self._buf += chunk
            if len(self._buf) > FIELD_LIMIT:
                raise UploadError(400, f"form field {self._name!r} is too long")

    def on_part_end(self) -> None:
        if self._is_file:
            self.close()
        elif self._name is not None:
            self.form.fields[self._name] = self._buf.decode("utf-8", "replace")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def human_size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return f"{n} bytes"


async def receive_form(
    content_type: str | None, content_length: str | None, stream: AsyncIterator[bytes],
    dest: Path, limit: int, file_field: str = "file",
) -> ReceivedForm:
    """Parse the body into fields and ``dest``; on any error ``dest`` is gone and
    :class:`UploadError` says why."""
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(415, "send the video as multipart/form-data (field 'file')")
    if content_length and content_length.isdigit() and int(content_length) > limit + BODY_OVERHEAD:
        raise UploadError(413, f"the upload is larger than the limit of {human_size(limit)}")
    recv = _Receiver(dest, limit, file_field)
    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": recv.on_part_begin, "on_part_data": recv.on_part_data,
        "on_part_end": recv.on_part_end, "on_header_field": recv.on_header_field,
        "on_header_value": recv.on_header_value, "on_header_end": recv.on_header_end,
        "on_headers_finished": recv.on_headers_finished,
    })
    body = 0
    try:
        async for chunk in stream:
            body += len(chunk)
            if body > limit + BODY_OVERHEAD:
                raise UploadError(413, f"the upload is larger than the limit of {human_size(limit)}")
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        recv.close()
        dest.unlink(missing_ok=True)
        raise
    except OSError as exc:
        recv.close()
        dest.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UploadError(507, "the server's disk is full: the upload was not stored") from None
        raise UploadError(500, f"cannot store the upload: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - malformed multipart, client disconnect
        recv.close()
        dest.unlink(missing_ok=True)
        log.info("upload failed: %s", exc)
        raise UploadError(400, f"the upload could not be read ({type(exc).__name__}: {exc})") from None
    recv.close()
    return recv.form
