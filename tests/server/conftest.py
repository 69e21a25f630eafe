"""Fixtures for the web app tests: a tiny random-weight model file, a short real clip, and a
factory for apps on a data folder (several apps on one folder = a restart)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi, uvicorn, python-multipart) is not installed")

from _serverkit import BASE_URL, CLIP_FRAMES
from fastapi.testclient import TestClient

from fluidframes.server.app import create_app
from fluidframes.options import ModelConfig
from fluidframes.server.config import ServerConfig


@pytest.fixture(scope="session")
def model_file(save_random_model) -> Path:
    """A checkpoint with random weights (no download; the server auto-detects the family)."""
    return save_random_model("tiny-rife.pkl")


def _trim(src: Path, dst: Path, frames: int) -> Path:
    """First ``frames`` frames of ``src`` re-encoded as H.264 MP4 (real footage, tiny)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.codec_context.time_base = 1 / vin.average_rate
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"crf": "20", "preset": "ultrafast"}
        step = 1 / vin.average_rate
        for n, frame in enumerate(inp.decode(vin)):
            if n >= frames:
                break
            frame.pts, frame.time_base = n, step  # exact constant-rate timestamps
            out.mux(vout.encode(frame))
        out.mux(vout.encode(None))
    return dst


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    from fluidframes.samples import sample_path

    return _trim(sample_path("carphone"), tmp_path_factory.mktemp("clip") / "carphone.mp4",
                 CLIP_FRAMES)


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """The whole 120-frame sample: long enough to cancel or interrupt mid-run."""
    from fluidframes.samples import sample_path

    return sample_path("carphone")


@pytest.fixture
def make_config(tmp_path, model_file) -> Callable[..., ServerConfig]:
    def make(**kw) -> ServerConfig:
        kw.setdefault("data_dir", tmp_path / "data")
        model = {k: kw.pop(k) for k in list(kw) if k in ModelConfig.specs()}
        model.setdefault("model_file", str(model_file))
        model.setdefault("device", "cpu")
        model.setdefault("threads", 2)
        return ServerConfig(model=ModelConfig(**model), **kw)

    return make


@pytest.fixture
def make_client(make_config) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**config)`` -> a started TestClient; all are closed at the end."""
    clients: list[TestClient] = []

    def make(start_worker: bool = True, **kw) -> TestClient:
        app = create_app(make_config(**kw), start_worker=start_worker)
        c = TestClient(app, base_url=BASE_URL)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in reversed(clients):
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
