"""Interpolator behaviour on tiny random-weight models: shapes, padding, alpha, validation."""

from __future__ import annotations

import numpy as np
import pytest

from fluidframes.engine import Interpolator
from fluidframes.errors import FluidFramesError, InputError


@pytest.fixture(params=["rife-v4.6", "rife-v4.25"])
def interp(request, random_models):
    net, fam = random_models[request.param]
    return Interpolator.from_module(net, fam)


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (2, 5), (70, 33)])
def test_any_size_round_trips(interp, rng, shape):
    h, w = shape
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = interp.interpolate(a, b, 0.5)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8


def test_constant_frames_stay_constant(interp):
    # Whatever the (random) flow, warping and blending a flat colour gives that colour.
    a = np.full((40, 72, 3), (200, 30, 90), dtype=np.uint8)
    out = interp.interpolate_many(a, a.copy(), [0.1, 0.5, 0.9])
    for o in out:
        assert np.abs(o.astype(int) - a).max() <= 1


def test_many_matches_single_calls(interp, rng):
    a = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    b = np.roll(a, 3, axis=1)
    ts = [0.25, 0.5, 0.75]
    many = interp.interpolate_many(a, b, ts)
    for t, m in zip(ts, many):
        single = interp.interpolate(a, b, t)
        assert np.abs(single.astype(int) - m).max() <= 1


def test_rgba_alpha_moves_with_colour(interp, rng):
    a = rng.integers(0, 256, (32, 48, 4), dtype=np.uint8)
    a[..., 3] = 255
    out = interp.interpolate(a, a.copy(), 0.5)
    assert out.shape == (32, 48, 4)
    assert (out[..., 3] == 255).all()
    rgb = interp.interpolate(np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., :3]))
    assert np.array_equal(out[..., :3], rgb)


def test_uint16_frames(interp, rng):
    a = rng.integers(0, 65536, (24, 40, 3), dtype=np.uint16)
    out = interp.interpolate(a, a.copy(), 0.5)
    assert out.dtype == np.uint16 and out.shape == a.shape


@pytest.mark.parametrize(
    "a_shape,b_shape,dtype,t,match",
    [
        ((16, 16, 3), (16, 17, 3), np.uint8, 0.5, "differ"),
        ((16, 16, 2), (16, 16, 2), np.uint8, 0.5, "RGB"),
        ((16, 16), (16, 16), np.uint8, 0.5, "RGB"),
        ((16, 16, 3), (16, 16, 3), np.float32, 0.5, "uint8"),
        ((16, 16, 3), (16, 16, 3), np.uint8, 0.0, "strictly between"),
        ((16, 16, 3), (16, 16, 3), np.uint8, 1.0, "strictly between"),
        ((16, 16, 3), (16, 16, 3), np.uint8, -2, "strictly between"),
    ],
)
def test_bad_input_raises_own_error(interp, a_shape, b_shape, dtype, t, match):
    a = np.zeros(a_shape, dtype)
    b = np.zeros(b_shape, dtype)
    with pytest.raises(InputError, match=match) as info:
        interp.interpolate(a, b, t)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FluidFramesError)


def test_scale_changes_padding_and_still_works(random_models, rng):
    net, fam = random_models["rife-v4.25"]
    half = Interpolator.from_module(net, fam, scale=0.5)
    assert half.modulo == 128
    a = rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)
    assert half.interpolate(a, a.copy()).shape == a.shape
    with pytest.raises(InputError, match="scale"):
        Interpolator(model_file="unused.pkl", scale=3)


@pytest.mark.slow
def test_model_file_detected_and_loaded(tmp_path, random_models, rng):
    import torch

    net, fam = random_models["rife-v4.6"]
    path = tmp_path / "flownet.pkl"
    torch.save(net.state_dict(), path)
    it = Interpolator(model_file=path, device="cpu")
    from fluidframes.engine import _cpu_has_bf16

    assert it.info.family == "rife-v4.6"
    assert it.info.precision == ("bf16" if _cpu_has_bf16() else "fp32")  # auto on CPU
    a = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    fp32 = Interpolator(model_file=path, device="cpu", precision="fp32")
    ref = Interpolator.from_module(net, fam, precision="fp32").interpolate(a, b)
    assert np.array_equal(fp32.interpolate(a, b), ref)
    assert np.abs(it.interpolate(a, b).astype(int) - ref).max() <= 8  # bf16 convs stay close


def test_bad_device_and_precision():
    with pytest.raises(InputError, match="device"):
        Interpolator(model_file="x.pkl", device="tpu")


@pytest.mark.parametrize("avx512_bf16,amx,mkldnn,want", [
    (False, False, True, "fp32"),   # oneDNN emulates bf16 on plain AVX-512: ~3x slower than fp32
    (True, False, True, "bf16"),
    (False, True, True, "bf16"),
    (False, False, False, "fp32"),
])
def test_auto_precision_needs_native_bf16(monkeypatch, avx512_bf16, amx, mkldnn, want):
    """``auto`` picks bf16 only on CPUs that compute it natively (avx512_bf16 or AMX); oneDNN
    reports bf16 "supported" on any AVX-512 CPU, where it is emulated and much slower (an Ice
    Lake Xeon: rife-4.25 720p 1024 ms bf16 vs 345 ms fp32, benchmarks/bench_presets.py)."""
    import torch

    from fluidframes import engine

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: mkldnn,
                        raising=False)
    dtype = engine._pick_dtype("auto", torch.device("cpu"))
    assert engine._PRECISION_NAMES[dtype] == want
    assert engine._pick_dtype("half", torch.device("cpu")) == dtype
