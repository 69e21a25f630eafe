"""Ensembles and static-overlay protection on tiny random-weight models (no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fluidframes import engine, overlays
from fluidframes.engine import Interpolator, load_interpolator
from fluidframes.ensemble import Ensemble, Weighting, with_overlay_protection
from fluidframes.errors import InputError, ModelError
from fluidframes.models import registry
from fluidframes.models.registry import ENSEMBLES, Pass
from fluidframes.options import QUALITY_PRESETS, ModelConfig

A, B = "rife-4.25", "rife-4.6"


@pytest.fixture(scope="module")
def members(random_models):
    """rife-4.25-like and rife-4.6-like members (random weights), keyed as the engine keys them."""
    return {(A, 1.0): Interpolator.from_module(*random_models["rife-v4.25"], name=A),
            (B, 1.0): Interpolator.from_module(*random_models["rife-v4.6"], name=B)}


def build_ensemble(name, members):
    return Ensemble(members, ENSEMBLES[name])


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (45, 70, 3), dtype=np.uint8)
    return a, np.roll(a, 3, axis=1)


def _diff(x: np.ndarray, y: np.ndarray) -> int:
    return int(np.abs(x.astype(int) - y.astype(int)).max())


@pytest.mark.parametrize("name", list(ENSEMBLES))
def test_named_ensembles_have_the_interface(members, pair, name):
    ens = build_ensemble(name, members=members)
    a, b = pair
    info = ens.info
    assert info.name == name and info.family.startswith("ensemble(")
    used = ENSEMBLES[name].members
    assert info.parameters == sum(m.info.parameters for k, m in members.items() if k[0] in used)
    assert set(ens.members) == {(m, 1.0) for m in used}  # members no pass runs are not kept
    assert (info.device, info.precision, info.scale, info.backend) == ("cpu", "fp32", 1.0, "torch")
    assert ens.device == torch.device("cpu")
    p0, p1 = ens.prepare(a), ens.prepare(b)
    outs = ens.run(p0, p1, [0.25, 0.5, 0.75])
    assert len(outs) == 3 and all(o.shape == a.shape and o.dtype == np.uint8 for o in outs)
    assert _diff(ens.interpolate(a, b, 0.5), outs[1]) <= 1
    many = ens.interpolate_many(a, b, [0.25, 0.75])
    assert _diff(many[0], outs[0]) <= 1 and _diff(many[1], outs[2]) <= 1
    assert ens.interpolate_many(a, b, []) == []


def test_specs_name_registered_models_and_valid_passes():
    for name, spec in ENSEMBLES.items():
        assert name.startswith("rife-ensemble") and name in registry.model_names()
        assert all(m in registry.MODELS for m in spec.members)
        assert spec.passes and all(p.flip in ("", "h", "v") for p in spec.passes)
        assert spec.weighting in ("mean", "residual") and spec.cost > 1 and spec.gain_db > 0
        assert [s.name for s in registry.weight_specs(name)] == list(spec.members)
    assert QUALITY_PRESETS["best"]["model"] in ENSEMBLES


def test_one_plain_pass_is_the_member_itself(members, pair):
    a, b = pair
    for (name, _), m in members.items():
        ens = Ensemble(members, passes=(Pass(name),))
        assert np.array_equal(ens.interpolate(a, b, 0.3), m.interpolate(a, b, 0.3))


def test_repeated_pass_averages_to_the_member(members, pair):
    # the long path (candidates, combine, rounding) on two identical passes
    a, b = pair
    for wt in (Weighting("mean"), Weighting("residual")):
        ens = Ensemble(members, passes=(Pass(A), Pass(A)), weighting=wt)
        outs = ens.interpolate_many(a, b, [0.25, 0.5])
        ref = members[(A, 1.0)].interpolate_many(a, b, [0.25, 0.5])
        assert all(_diff(o, r) <= 1 for o, r in zip(outs, ref))


@pytest.mark.parametrize("name", [A, B])
def test_time_reversed_and_flipped_passes(members, pair, name):
    a, b = pair
    m = members[(name, 1.0)]
    rev = Ensemble(members, passes=(Pass(name, reverse=True),)).interpolate(a, b, 0.3)
    assert _diff(rev, m.interpolate(b, a, 0.7)) <= 1
    for flip, axis in (("h", 1), ("v", 0)):
        got = Ensemble(members, passes=(Pass(name, flip),)).interpolate(a, b, 0.3)
        ref = np.flip(m.interpolate(np.flip(a, axis).copy(), np.flip(b, axis).copy(), 0.3), axis)
        assert _diff(got, ref) <= 1


def test_mean_of_passes_is_the_mean_of_their_frames(members, pair):
    a, b = pair
    passes = (Pass(A), Pass(A, "h"), Pass(B, reverse=True))
    ens = Ensemble(members, passes=passes, weighting=Weighting("mean"))
    singles = [Ensemble(members, passes=(p,)).interpolate(a, b, 0.5).astype(float)
               for p in passes]
    assert _diff(ens.interpolate(a, b, 0.5), np.rint(np.mean(singles, 0))) <= 1


def test_residual_weighting_prefers_the_pass_whose_warps_agree(members):
    ens = Ensemble(members, passes=(Pass(A), Pass(A, "h")), weighting=Weighting("residual"))
    good, bad = torch.full((1, 3, 8, 8), 0.2), torch.full((1, 3, 8, 8), 0.8)
    r_good, r_bad = torch.zeros(1, 1, 8, 8), torch.full((1, 1, 8, 8), 0.3)
    out = ens.combine([good, bad], [r_good, r_bad])
    assert torch.allclose(out, good, atol=1e-3)
    same = ens.combine([good, bad], [r_good, r_good])
    assert torch.allclose(same, torch.full_like(good, 0.5))


def test_constant_rgba_and_uint16(members):
    ens = build_ensemble("rife-ensemble-max", members=members)
    c = np.full((40, 72, 3), (200, 30, 90), dtype=np.uint8)
    assert all(_diff(o, c) <= 1 for o in ens.interpolate_many(c, c.copy(), [0.1, 0.5, 0.9]))
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (32, 48, 4), dtype=np.uint8)
    a[..., 3] = 255
    out = ens.interpolate(a, a.copy(), 0.5)
    assert out.shape == a.shape and (out[..., 3] == 255).all()
    w = rng.integers(0, 65536, (24, 40, 3), dtype=np.uint16)
    o16 = ens.interpolate(w, w.copy(), 0.5)
    assert o16.dtype == np.uint16 and o16.shape == w.shape


def test_bad_input(members):
    with pytest.raises(ModelError, match="unknown model .rife-ensemble-ultra."):
        ModelConfig(model="rife-ensemble-ultra").validated()
    with pytest.raises(InputError, match="no loaded member"):
        Ensemble({(A, 1.0): members[(A, 1.0)]}, ENSEMBLES["rife-ensemble"])
    with pytest.raises(InputError, match="flip"):
        Ensemble(members, passes=(Pass(A, "d"),))
    with pytest.raises(ModelError, match="is an ensemble"):
        registry.get_spec("rife-ensemble")
    ens = build_ensemble("rife-ensemble", members=members)
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(InputError, match="strictly between"):
        ens.interpolate(a, a, 1.0)
    with pytest.raises(InputError, match="differ"):
        ens.interpolate(a, np.zeros((16, 17, 3), np.uint8))


# ---- overlays ---------------------------------------------------------------------------------

def _scene(static_patch: bool, shift: int = 4):
    """A textured background moving by ``shift`` px, optionally with a static high-contrast
    patch (a 'logo') at rows 10-21, columns 20-39."""
    rng = np.random.default_rng(11)
    bg = torch.from_numpy(rng.random((1, 3, 48, 96), dtype=np.float32))
    bg = torch.nn.functional.avg_pool2d(bg, 3, 1, 1)  # some spatial correlation
    a, b = bg.clone(), torch.roll(bg, shift, 3)
    if static_patch:
        patch = torch.zeros(1, 3, 12, 20)
        patch[:, :, ::3] = 1.0  # stripes: structure
        for x in (a, b):
            x[:, :, 10:22, 20:40] = patch
    return a, b


def test_static_weight_finds_a_static_patch_on_moving_footage():
    a, b = _scene(True)
    w = overlays.static_weight(a, b)
    assert w.shape == (1, 1, 48, 96)
    assert w[:, :, 10:22, 20:40].min() > 0.99  # every pixel of the patch, edges included
    assert w[:, :, 24:, :].max() == 0 and w[:, :, :, 44:].max() == 0  # the moving picture


def test_static_weight_quiet_on_moving_and_on_flat_pixels():
    a, b = _scene(False)
    assert overlays.static_weight(a, b) is None  # everything moves: a != b
    flat = torch.full((1, 3, 48, 96), 0.4)
    assert overlays.static_weight(flat, flat.clone()) is None  # still, but no structure
    # a single coincidentally equal pixel in moving texture has no support
    a2, b2 = _scene(False)
    b2[:, :, 30, 60] = a2[:, :, 30, 60]
    assert overlays.static_weight(a2, b2) is None


def test_compose_takes_the_sources_where_weighted():
    a, b = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    out = torch.full((2, 3, 4, 4), 0.9)
    w = torch.zeros(2, 1, 4, 4)
    w[:, :, :2] = 1.0
    res = overlays.compose(out, a, b, [0.25, 0.5], w)
    assert torch.allclose(res[0, :, :2], torch.full((3, 2, 4), 0.25))
    assert torch.allclose(res[1, :, :2], torch.full((3, 2, 4), 0.5))
    assert torch.allclose(res[:, :, 2:], out[:, :, 2:])
    assert overlays.compose(out, a, b, [0.25, 0.5], None) is out


def test_protected_single_model_leaves_a_static_scene_and_keeps_the_interface(members):
    """Nothing moves (the same frame twice, or with noise of a few levels): nothing can drag an
    overlay, so the protected model gives exactly the plain model's frames."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    noisy = np.clip(a + rng.normal(0, 1.5, a.shape), 0, 255).round().astype(np.uint8)
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    assert overlays.detect(t(a), t(noisy)) is None
    for m in members.values():
        prot = with_overlay_protection(m)
        assert prot.info.name == m.info.name and prot.device == m.device
        for b in (a.copy(), noisy):
            still = prot.interpolate_many(a, b, [0.25, 0.5])
            plain = m.interpolate_many(a, b, [0.25, 0.5])
            assert all(np.array_equal(s, p) for s, p in zip(still, plain))


def _textured(seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((1, 3, 48, 96), dtype=np.float32))
    return torch.nn.functional.avg_pool2d(x, 3, 1, 1)


def test_fill_mask_takes_thin_static_structure_on_moving_footage():
    a, b = _scene(True)
    found = overlays.detect(a, b)
    mask, weight = overlays.fill_mask(found)
    assert mask.shape == (1, 1, 48, 96) and mask.dtype == torch.bool
    assert bool(mask[:, :, 10:22, 20:40].all())  # the whole patch
    assert not bool(mask[:, :, 24:].any()) and not bool(mask[:, :, :, 44:].any())
    assert bool((weight[mask] == 1).all())  # every filled pixel is composed from the sources
    assert torch.equal(weight[~mask], found.weight[~mask])


def test_fill_mask_leaves_still_cameras_and_large_still_areas_alone():
    bg = _textured(3)
    square = _textured(4)[:, :, :16, :16]
    a, b = bg.clone(), bg.clone()  # a still camera: a square moves over a still background
    a[:, :, 16:32, 20:36] = square
    b[:, :, 16:32, 28:44] = square
    found = overlays.detect(a, b)
    assert found is not None and overlays.fill_mask(found) is None
    # half of the frame pans, the other half stands still: large, so not an overlay
    b = bg.clone()
    b[:, :, 24:] = torch.roll(bg, 5, 3)[:, :, 24:]
    found = overlays.detect(bg, b)
    assert float((found.diff > overlays.MOVING).float().mean()) > overlays.PANNING
    assert overlays.fill_mask(found) is None
    assert overlays.fill_mask(None) is None
    a, b = _scene(False)  # everything moves: nothing static, nothing to fill
    assert overlays.detect(a, b) is None


def test_fill_keeps_the_picture_and_fills_holes_from_around():
    x = _textured(6)
    mask = torch.zeros(1, 1, 48, 96, dtype=torch.bool)
    mask[:, :, 20:26, 30:60] = True
    out = overlays.fill(x, mask)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out[~mask.expand_as(x)], x[~mask.expand_as(x)])
    ramp = torch.linspace(0, 1, 96).view(1, 1, 1, 96).expand(1, 3, 48, 96).contiguous()
    hole = ramp.clone()
    hole[mask.expand_as(hole)] = 0.0
    filled = overlays.fill(hole, mask)
    assert (filled - ramp).abs().max() < 0.1  # a smooth picture comes back close
    flat = torch.full((1, 3, 48, 96), 0.3)
    assert torch.allclose(overlays.fill(flat, mask), flat)


def test_ensemble_prepares_filled_frames_only_when_an_overlay_is_found(members, monkeypatch):
    calls = []
    for key, m in members.items():
        orig = m.prepare
        monkeypatch.setattr(m, "prepare", lambda img, orig=orig: calls.append(1) or orig(img))
    to8 = lambda x: (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    ens = Ensemble(members, ENSEMBLES["rife-ensemble"], protect_static=True)
    views = len(ens._views)
    a, b = (to8(x) for x in _scene(True))
    p0, p1 = ens.prepare(a), ens.prepare(b)
    calls.clear()
    outs = ens.run(p0, p1, [0.25, 0.5])
    assert len(calls) == 2 * views  # both frames again, filled
    assert all(o.shape == a.shape and o.dtype == np.uint8 for o in outs)
    assert all(np.array_equal(o[10:22, 20:40], a[10:22, 20:40]) for o in outs)
    calls.clear()
    plain = Ensemble(members, ENSEMBLES["rife-ensemble"], protect_static=True,
                     fill_overlays=False)
    unfilled = plain.run(p0, p1, [0.5])[0]
    assert not calls and not np.array_equal(unfilled, outs[1])  # the fill changed the picture
    a, b = (to8(x) for x in _scene(False))
    q0, q1 = ens.prepare(a), ens.prepare(b)
    calls.clear()
    ens.run(q0, q1, [0.5])
    assert not calls  # nothing found, nothing prepared again


def test_filled_pairs_keep_alpha_and_16_bit_frames(members, monkeypatch):
    """The fill path (frames prepared again from the filled sources) with RGBA and uint16
    input: the output keeps the input's channels and dtype, and the static patch is exact."""
    fills = []
    orig = overlays.fill
    monkeypatch.setattr(overlays, "fill", lambda x, m, **kw: fills.append(x.shape[1]) or
                        orig(x, m, **kw))
    ens = Ensemble(members, ENSEMBLES["rife-ensemble"], protect_static=True)
    a, b = (x[0].permute(1, 2, 0).numpy() for x in _scene(True))
    for peak, dtype in ((255, np.uint8), (65535, np.uint16)):
        x, y = ((v * peak).round().astype(dtype) for v in (a, b))
        x4, y4 = (np.concatenate((v, np.full(v.shape[:2] + (1,), peak, dtype)), 2)
                  for v in (x, y))
        for p, q in ((x, y), (x4, y4)):
            out = ens.interpolate(p, q, 0.5)
            assert out.shape == p.shape and out.dtype == dtype
            assert np.array_equal(out[10:22, 20:40], p[10:22, 20:40])
    assert fills == [3, 3, 4, 4] * 2  # every pair went through the fill, both frames


# ---- the one way to a model: load_interpolator ------------------------------------------------

@pytest.mark.parametrize("name", list(ENSEMBLES))
def test_load_interpolator_builds_the_named_ensemble_from_member_configs(
        monkeypatch, members, name):
    seen = []

    def fake_from_config(config):
        seen.append(config)
        return members[(config.model, config.scale)]

    monkeypatch.setattr(Interpolator, "from_config", staticmethod(fake_from_config))
    ens = load_interpolator(ModelConfig(model=name, precision="fp32", threads=2))
    assert isinstance(ens, Ensemble) and ens.info.name == name
    assert [c.model for c in seen] == list(ENSEMBLES[name].members)  # each member loaded once
    assert all(c.precision == "fp32" and c.threads == 2 and not c.protect_static for c in seen)
    assert ens.protect_static is ENSEMBLES[name].protect_static
    on = load_interpolator(ModelConfig(model=name, protect_static=True))
    assert on.protect_static
    off = load_interpolator(ModelConfig(model=name, protect_static=False))  # the user's "off"
    assert off.protect_static is False


def test_protect_static_unset_on_or_off_from_the_cli_and_the_form():
    """Three states: not given (the model's default), --protect-static, --no-protect-static;
    the web form offers the same three (a select, not a checkbox that always sends false)."""
    import argparse

    from fluidframes.options import add_arguments, json_schema, parse_form

    ap = argparse.ArgumentParser()
    add_arguments(ap, ModelConfig)
    for argv, want in (([], None), (["--protect-static"], True), (["--no-protect-static"], False)):
        assert ap.parse_args(argv).protect_static is want
    assert "default" not in json_schema()["protect_static"]
    assert parse_form({"protect_static": "false"})["protect_static"] is False
    assert parse_form({}).get("protect_static") is None
    assert ModelConfig(model="rife-ensemble").validated().protect_static is None


def test_quality_best_is_an_ensemble():
    cfg = ModelConfig(quality="best").validated()
    assert cfg.model in ENSEMBLES and cfg.precision == "fp32"
    assert ModelConfig(quality="best", model="rife-4.6").validated().model == "rife-4.6"


def test_protect_static_on_a_model_file_wraps_it(model_file, pair):
    a, b = pair
    plain = load_interpolator(ModelConfig(model_file=model_file, device="cpu", precision="fp32"))
    prot = load_interpolator(ModelConfig(model_file=model_file, device="cpu", precision="fp32",
                                         protect_static=True))
    assert isinstance(plain, Interpolator) and isinstance(prot, Ensemble)
    assert prot.info == plain.info and prot.protect_static
    assert prot.interpolate(a, b).shape == a.shape
    assert engine.load_interpolator is load_interpolator


def test_protect_static_is_one_option_everywhere():
    from fluidframes.options import json_schema

    spec = ModelConfig.specs()["protect_static"]
    assert spec.kind == "bool" and spec.web
    assert json_schema()["protect_static"]["type"] == "boolean"
    assert ModelConfig.from_kwargs(protect_static="on").protect_static is True
    with pytest.raises(InputError, match="protect_static must be true or false"):
        ModelConfig.from_kwargs(protect_static="maybe")


def test_protection_keeps_a_static_patch_exact(members):
    """A static striped patch over moving texture: with protection the patch is the source's,
    to the level, at every timestep; without the fill, the moving picture is the plain
    ensemble's (with it the networks ran on other frames)."""
    a, b = _scene(True)
    a8, b8 = ((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for x in (a, b))
    plain = Ensemble(members, ENSEMBLES["rife-ensemble"], protect_static=False)
    for fill in (True, False):
        prot = Ensemble(members, ENSEMBLES["rife-ensemble"], protect_static=True,
                        fill_overlays=fill)
        for o in prot.interpolate_many(a8, b8, [0.25, 0.5, 0.75]):
            assert np.array_equal(o[10:22, 20:40], a8[10:22, 20:40])
    p, q = prot.interpolate(a8, b8), plain.interpolate(a8, b8)
    assert np.array_equal(p[30:], q[30:])  # the moving picture is left alone


@pytest.mark.slow
def test_video_multi4_and_scene_cuts_as_single_models(tmp_path, members):
    """Through the video pipeline (--multi 4 across a hard cut): an ensemble makes the same
    number of frames at the same times, and the same frames wherever no interpolation happens
    (source frames, the held frames at the cut)."""
    from _media import encode_frames, frames_of

    from fluidframes.pipeline import interpolate_video

    rng = np.random.default_rng(4)
    base = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(2)]
    images = [np.roll(base[0], 2 * k, 1) for k in range(6)] + \
             [np.roll(base[1], 2 * k, 0) for k in range(6)]
    src = encode_frames(tmp_path / "in.mp4", images, codec="libx264rgb", pix_fmt="rgb24",
                        options={"qp": "0"})
    outs = {}
    for name, interp in (("single", members[(A, 1.0)]),
                         ("ensemble", Ensemble(members, ENSEMBLES["rife-ensemble-max"]))):
        dst = tmp_path / f"{name}.mkv"
        summary = interpolate_video(src, dst, multi=4, interpolator=interp, codec="ffv1",
                                    overwrite=True)
        outs[name] = (summary, frames_of(dst))
    (s1, f1), (s2, f2) = outs["single"], outs["ensemble"]
    assert len(f1) == len(f2) == 4 * len(images) and s1.scene_cuts == s2.scene_cuts >= 1
    same = [i for i in range(len(f1)) if np.array_equal(f1[i], f2[i])]
    assert all(i in same for i in range(0, len(f1), 4))  # every source frame
    assert len(same) >= len(images) + 3  # + the frames held at the cut
