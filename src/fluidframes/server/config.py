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

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.token == "":
            self.token = None
        if self.workers < 1:
            raise InputError("--workers must be at least 1")
        if self.max_upload <= 0:
            raise InputError("--max-upload must be positive")
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
