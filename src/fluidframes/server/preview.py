"""Browser-playable renditions (VP9 WebM, no audio) of a job's source and result.

The page offers the real file first (``<source>`` with its MIME type) and this rendition second,
so a browser that can play the file (H.264 MP4 in Chrome) never asks for it, while one that
cannot (a Chromium build without proprietary codecs, a ``.mov``/``.mkv``/GIF result, 10-bit or
4:4:4 H.264) falls back to it. It is made on first request and cached beside the job's files.

It reuses the project's reader and writer (same colour handling, rotation tags), scaled down to
at most ``MAX_WIDTH`` and encoded with VP9's fastest setting: it is for looking, not keeping.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAX_WIDTH = 960
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if img.dtype != np.uint8:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.asarray(Image.fromarray(img[..., :3]).resize((width, height), Image.BILINEAR))


def make_preview(src: Path, dst: Path) -> Path:
    """Write ``dst`` (WebM/VP9) from ``src`` unless it exists; return ``dst``."""
    from ..video.reader import probe, read_frames
    from ..video.writer import EncodeOptions, VideoWriter

    with _lock_for(dst):
        if dst.is_file():
            return dst
        info = probe(src)
        w, h = info.width, info.height
        if w > MAX_WIDTH:
            w, h = MAX_WIDTH, max(2, round(h * MAX_WIDTH / w / 2) * 2)
        writer = VideoWriter(dst, w, h, info.rate, info,
                             EncodeOptions(codec="libvpx-vp9", crf=40, preset="8"))
        try:
            for frame in read_frames(info):
                img = frame.image
                if (img.shape[1], img.shape[0]) != (w, h):
                    img = _resize(img, w, h)
                writer.write(img)
            tmp = writer.close()
        except BaseException:
            writer.abort()
            raise
        os.replace(tmp, dst)
        log.info("preview %s -> %s", src.name, dst)
        return dst
