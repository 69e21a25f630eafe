"""Server settings and the start-up safety rules (which addresses need a token)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..options import ModelConfig

DEFAULT_MAX_UPLOAD = 4 * 1024**3  # 4 GiB
#: Work one job may ask for (``serve --max-output-frames/--max-pixel-rate/--max-duration``).
#: 100 minutes at 60 fps; 4K at 120 fps (a montage counts twice the width); two hours of source.
DEFAULT_MAX_OUTPUT_FRAMES = 360_000
DEFAULT_MAX_PIXEL_RATE = 3840 * 2160 * 120
DEFAULT_MAX_DURATION = 2 * 3600.0
PREVIEW_MAX_SECONDS = 10.0
TOKEN_ENV = "FLUIDFRAMES_TOKEN"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """``4G``, ``500M``, ``1.5GiB``, ``1024`` -> bytes (binary multiples: K = 1024)."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise InputError(f"bad size {text!r}: use e.g. 4G, 500M or a number of bytes")
    value, unit = float(m.group(1)), m.group(2).lower()
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit]
    size = int(value * mult)
    if size <= 0:
        raise InputError(f"size must be positive, got {text!r}")
    return size


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)\s*$", re.IGNORECASE)


def parse_duration(text: str | float, what: str = "--max-duration") -> float:
    """``90``, ``90s``, ``20m``, ``2h`` -> seconds."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _DURATION.match(str(text))
        if not m:
            raise InputError(f"{what} must be a duration such as 600, 20m or 2h, got {text!r}")
        value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}[
            (m.group(2) or "").lower()]
    if not value > 0 or value == float("inf"):
        raise InputError(f"{what} must be positive, got {text!r}")
    return value


def parse_count(text: str | int | float, what: str) -> float:
    """``360000``, ``500k``, ``1.2G`` -> a positive number (decimal multiples)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _COUNT.match(str(text))
        if not m:
            raise InputError(f"{what} must be a number such as 360000, 500k or 1G, got {text!r}")
        value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    if not value >= 1 or value == float("inf"):
        raise InputError(f"{what} must be at least 1, got {text!r}")
    return value


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    h = host.strip().lower()
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h.strip("[]")).is_loopback
    except ValueError:
        return False


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("fluidframes", appauthor=False))


@dataclass
class ServerConfig:
    """Everything the app needs; the ``serve`` command fills it from flags and env."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD
    workers: int = 1  # jobs run at the same time on the device
    #: Device, precision, threads, and the model preselected in the page (``model``) or the one
    #: custom checkpoint served instead of the zoo (``model_file``); uploads may choose the zoo
    #: model, scale and precision (the web options of ModelConfig), never a file.
    model: ModelConfig = field(default_factory=ModelConfig)
    #: Extra Host header names accepted without a token (tests use the TestClient's).
    extra_hosts: tuple[str, ...] = ()
    #: Work one job may ask for, checked when the upload arrives (400 beyond them) and again
    #: while it runs: output frames, output pixels per second (width x height x rate) and
    #: seconds of source.
    max_output_frames: int = DEFAULT_MAX_OUTPUT_FRAMES
    max_pixel_rate: float = DEFAULT_MAX_PIXEL_RATE
    max_duration: float = DEFAULT_MAX_DURATION

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.token == "":
            self.token = None
        if self.workers < 1:
            raise InputError("--workers must be at least 1")
        if self.max_upload <= 0:
            raise InputError("--max-upload must be positive")
        self.max_output_frames = int(parse_count(self.max_output_frames, "--max-output-frames"))
        self.max_pixel_rate = parse_count(self.max_pixel_rate, "--max-pixel-rate")
        self.max_duration = parse_duration(self.max_duration)
        self.model = self.model.validated()

    @property
    def custom_model(self) -> str | None:
        """The name a served checkpoint goes by (None: the zoo is offered)."""
        return Path(self.model.model_file).name if self.model.model_file else None

    def check_exposure(self) -> None:
        """Refuse to serve a non-loopback address without a token."""
        if not is_loopback(self.host) and not self.token:
            raise InputError(
                f"binding {self.host} makes the server reachable from other machines: give "
                f"--token SECRET or set {TOKEN_ENV} (every request must then carry it)"
            )

    @classmethod
    def token_from_env(cls) -> str | None:
        return os.environ.get(TOKEN_ENV) or None
