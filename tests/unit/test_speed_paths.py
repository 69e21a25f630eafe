"""The fast backend computes what the reference IFNet computes (tiny random models, no weights)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fluidframes.backends.torch_fast import FastIFNet, _down
from fluidframes.engine import Interpolator
from fluidframes.errors import InputError

FAMS = ["rife-v4.6", "rife-v4.25"]


@pytest.mark.parametrize("s", [2, 4, 8, 16])
def test_cell_mean_is_bilinear_downscale(s):
    x = torch.randn(2, 3, 4 * s, 6 * s)
    ref = F.interpolate(x, scale_factor=1.0 / s, mode="bilinear", align_corners=False)
    assert torch.allclose(_down(x, s), ref, atol=1e-6)


@pytest.mark.parametrize("s", [2, 4, 8])
def test_down_of_up_is_up2(s):
    # the identity the fast path uses for block-to-block features: down_s(up_2s(x)) == up_2(x)
    x = torch.randn(1, 8, 5, 7)
    up = F.interpolate(x, scale_factor=2.0 * s, mode="bilinear", align_corners=False)
    lhs = F.interpolate(up, scale_factor=1.0 / s, mode="bilinear", align_corners=False)
    rhs = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    assert torch.allclose(lhs, rhs, atol=1e-5)


@pytest.mark.parametrize("fam", FAMS)
def test_fast_forward_matches_reference_tensors(random_models, fam):
    net, _ = random_models[fam]
    torch.manual_seed(3)
    h, w = 128, 192
    img0, img1 = torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
    ts = torch.tensor([0.25, 0.5])
    timestep = ts.view(2, 1, 1, 1).expand(2, 1, h, w)
    scales = [float(s) for s in net.variant.base_scales]
    fast = FastIFNet(net, torch.float32)
    with torch.inference_mode():
        f0, f1 = net.features(img0), net.features(img1)
        e = lambda t: t.expand(2, -1, -1, -1) if t is not None else None
        ref = net(e(img0), e(img1), timestep, scales, e(f0), e(f1))
        ff0, ff1 = fast.features(img0), fast.features(img1)
        got = fast(e(img0), e(img1), timestep, scales, e(ff0), e(ff1))
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        assert torch.allclose(r.float(), g.float(), atol=2e-3, rtol=1e-3), (r - g).abs().max()


@pytest.mark.parametrize("fam", FAMS)
@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (70, 133)])
def test_fast_backend_matches_eager_frames(random_models, rng, fam, shape):
    net, family = random_models[fam]
    fast = Interpolator.from_module(net, family, backend="torch")
    eager = Interpolator.from_module(net, family, backend="eager")
    assert fast.info.backend == "torch" and eager.info.backend == "eager"
    h, w = shape
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.roll(a, 4, axis=1)
    ts = [0.25, 0.5, 0.75]
    for x, y in zip(fast.interpolate_many(a, b, ts), eager.interpolate_many(a, b, ts)):
        assert np.abs(x.astype(int) - y).max() <= 1


def test_fast_backend_rgba_and_uint16(random_models, rng):
    net, family = random_models["rife-v4.25"]
    fast = Interpolator.from_module(net, family, backend="torch")
    eager = Interpolator.from_module(net, family, backend="eager")
    a = rng.integers(0, 65536, (40, 56, 4), dtype=np.uint16)
    b = rng.integers(0, 65536, (40, 56, 4), dtype=np.uint16)
    x, y = fast.interpolate(a, b), eager.interpolate(a, b)
    assert x.dtype == np.uint16 and x.shape == a.shape
    assert np.abs(x.astype(int) - y).max() <= 2


@pytest.mark.parametrize("fam", FAMS)
def test_bf16_convolutions_stay_close(random_models, rng, fam):
    net, family = random_models[fam]
    fast = Interpolator.from_module(net, family, backend="torch", precision="bf16")
    eager = Interpolator.from_module(net, family, backend="eager")
    assert fast.info.precision == "bf16"
    a = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    b = np.roll(a, 3, axis=0)
    x, y = fast.interpolate(a, b), eager.interpolate(a, b)
    assert np.abs(x.astype(int) - y).mean() < 3  # random weights amplify rounding; real: >55 dB


def test_backend_choice_and_errors(random_models):
    net, family = random_models["rife-v4.25"]
    assert Interpolator.from_module(net, family).info.backend == "torch"
    # scale 2 makes the last block upsample (scale 0.5): the exact rewrites do not apply
    assert Interpolator.from_module(net, family, scale=2.0).info.backend == "eager"
    with pytest.raises(InputError, match="backend"):
        Interpolator.from_module(net, family, backend="tensorrt-or-so")
    with pytest.raises(InputError, match="power-of-two"):
        Interpolator.from_module(net, family, scale=2.0, backend="torch")


@pytest.mark.slow
def test_bench_command_smoke(tmp_path, random_models, capsys):
    from fluidframes.cli import main

    net, _ = random_models["rife-v4.6"]
    path = tmp_path / "flownet.pkl"
    torch.save(net.state_dict(), path)
    out = tmp_path / "bench.json"
    env_before = os.environ.get("FLUIDFRAMES_MALLOC")
    rc = main(["bench", "--model-file", str(path), "--input", "synthetic", "--size", "64x48",
               "--frames", "3", "--runs", "1", "-q", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    f = res["frames"]
    assert (f["width"], f["height"], f["source"], f["interpolated"]) == (64, 48, 3, 2)
    assert f["output_plain"] == 5 and f["output"] >= 5
    for k in ("decode", "encode", "inference_ours", "inference_plain", "interpolate_ours"):
        assert res["stages"][k]["fps"] > 0
    assert res["end_to_end"]["ratio"] > 0 and res["inference_ratio"] > 0
    assert res["interpolate_ratio"] > 0
    # the plain baseline ran in its own process, on the C library's default allocator
    assert res["baseline_process"] == "separate, default malloc"
    pr = res["processes"]
    assert pr["plain"]["pid"] != os.getpid() and pr["ours"]["pid"] == os.getpid()
    assert pr["plain"]["malloc"] == "system"
    assert pr["plain"]["threads"] == pr["ours"]["threads"] == torch.get_num_threads()
    assert pr["plain"]["info"]["backend"] == "eager" and pr["plain"]["info"]["precision"] == "fp32"
    runs = res["runs"]
    for k in ("infer_plain", "e2e_plain"):
        assert len(runs[k]["wall"]) == len(runs[k]["cpu"]) == len(runs[k]["peak_rss_mb"]) >= 1
        assert min(runs[k]["wall"]) > 0 and min(runs[k]["peak_rss_mb"]) > 0
    assert len(runs["infer_plain"]["wall"]) == 2  # twice per run, as before
    assert res["stages"]["inference_plain"]["peak_rss_mb"] > 0
    assert res["end_to_end"]["plain"]["fps"] > 0
    assert os.environ.get("FLUIDFRAMES_MALLOC") == env_before  # the parent's is left alone
    out_text = capsys.readouterr().out
    assert "inference" in out_text and "separate process" in out_text


def test_bench_worker_error_comes_back(tmp_path):
    # a failure inside the baseline worker is raised in the parent with its traceback, no hang
    from fluidframes.bench import BaselineWorkerError, BenchConfig, _PlainWorker
    from fluidframes.options import ModelConfig

    cfg = BenchConfig(model=ModelConfig(model_file=str(tmp_path / "missing.pkl"), device="cpu"),
                      input="synthetic", size="32x32", frames=2)
    with pytest.raises(BaselineWorkerError, match="start-up"), _PlainWorker(cfg, 1) as worker:
        worker.wait_ready()
    assert not worker._proc.is_alive()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("fam", FAMS)
def test_fused_trunk_and_packing_match_plain_ops(random_models, fam, dtype):
    # oneDNN conv+LeakyReLU / conv+add fusion and the per-part packing against plain aten ops
    net, _ = random_models[fam]
    fast = FastIFNet(net, dtype)
    blk = fast.blocks[1]
    cin = blk.conv0[0].weight.shape[1]
    torch.manual_seed(5)
    parts = [torch.rand(2, 3, 32, 48), torch.rand(2, cin - 3, 32, 48)]
    with torch.inference_mode():
        fused = fast._trunk(blk, parts)
        packed = fast._pack(parts)
        fast.fused = False
        plain = fast._trunk(blk, parts)
    # the packing: one conv-dtype, conv-layout tensor equal to a plain concatenation
    assert packed.dtype == dtype
    assert torch.equal(packed, torch.cat(parts, 1).to(dtype))
    tol = 1e-4 if dtype == torch.float32 else 0.1
    assert fused.shape == plain.shape and fused.dtype == torch.float32
    assert (fused - plain).abs().max() <= tol * max(1.0, plain.abs().max().item())


def test_interpolate_reuses_prepared_frames_by_content(random_models, rng, monkeypatch):
    net, family = random_models["rife-v4.25"]
    it = Interpolator.from_module(net, family, backend="torch")
    calls = []
    real = it.prepare
    monkeypatch.setattr(it, "prepare", lambda img: calls.append(1) or real(img))
    a, b, c = (rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(3))
    ab = it.interpolate(a, b, 0.5)
    it.interpolate(b, c, 0.5)  # b is remembered
    assert len(calls) == 3
    it.interpolate(b.copy(), c, 0.25)  # equal content, other array: still remembered
    assert len(calls) == 3
    c[0, 0] ^= 255  # changed in place: prepared again, result follows the new content
    bc2 = it.interpolate(b, c, 0.5)
    assert len(calls) == 4
    fresh = Interpolator.from_module(net, family, backend="torch")
    fresh.keep_prepared = 0
    assert np.array_equal(bc2, fresh.interpolate(b, c, 0.5))
    assert np.array_equal(ab, fresh.interpolate(a, b, 0.5))
    it.clear_cache()
    it.interpolate(a, b)
    assert len(calls) == 6


# ---- round 3 pieces: each rewrite against the plain op it replaces --------------------------------

@pytest.mark.parametrize("c, k", [(16, 5), (24, 13), (8, 1)])
def test_phase_conv_is_transposed_conv_then_shuffle(c, k):
    from fluidframes.backends.torch_fast import _assemble, _phase_weights

    torch.manual_seed(0)
    x = torch.randn(2, c, 9, 13)
    wt, bias = torch.randn(c, 4 * k, 4, 4), torch.randn(4 * k)
    ref = F.pixel_shuffle(F.conv_transpose2d(x, wt, bias, 2, 1), 2)
    b2 = bias.view(k, 2, 2).permute(1, 2, 0).reshape(-1).repeat(4)
    z = F.conv2d(x.contiguous(memory_format=torch.channels_last), _phase_weights(wt), b2, 1, 1)
    got = _assemble(z.contiguous(memory_format=torch.channels_last))
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-4, rtol=1e-5), (got - ref).abs().max()


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("pool", [False, True])
def test_striped_grid_sample_is_grid_sample(random_models, threads, pool):
    net, _ = random_models["rife-v4.6"]
    fast = FastIFNet(net, torch.float32)
    fast.threads = threads
    torch.manual_seed(1)
    src = torch.rand(1, 7, 48, 40)
    grid = torch.rand(3, 48, 40, 2) * 2.2 - 1.1  # some points outside: border padding
    ref = F.grid_sample(src.expand(3, -1, -1, -1), grid, mode="bilinear",
                        padding_mode="border", align_corners=True)
    if pool:
        ref = F.avg_pool2d(ref, 2)
    got = fast._sample(src, grid, pool)
    k = fast._stripes(48, pool)
    assert 1 <= k <= threads and 48 % (k * (2 if pool else 1)) == 0
    assert (k > 1) == (threads > 1)  # striping really happens when there are threads
    assert torch.equal(got, ref)


def test_blend_rounds_like_the_reference(random_models, rng):
    # the lerp blend + fused narrowing must round exactly like round(clamp(x) * 255)
    it = Interpolator.from_module(random_models["rife-v4.6"][0], random_models["rife-v4.6"][1])
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    p = it.prepare(img)
    x = torch.rand(2, 3, p.rgb.shape[2], p.rgb.shape[3]) * 1.2 - 0.1
    got = it._to_numpy(x, p)
    ref = (x[:, :, :20, :30].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert len(got) == 2 and got[0].dtype == np.uint8 and got[0].shape == (20, 30, 3)
    assert np.array_equal(np.stack(got), ref)


def test_allocator_tuning_once_and_opt_out(monkeypatch):
    from fluidframes import _allocator

    monkeypatch.setattr(_allocator, "_state", None)
    monkeypatch.setenv("FLUIDFRAMES_MALLOC", "system")
    assert _allocator.keep_freed_memory() == "system"
    monkeypatch.setattr(_allocator, "_state", None)
    monkeypatch.delenv("FLUIDFRAMES_MALLOC")
    state = _allocator.keep_freed_memory()
    assert state in ("tuned", "unavailable")
    if os.uname().sysname == "Linux" and os.path.exists("/lib/x86_64-linux-gnu/libc.so.6"):
        assert state == "tuned"
    monkeypatch.setenv("FLUIDFRAMES_MALLOC", "system")
    assert _allocator.keep_freed_memory() == state  # decided once per process
