"""Ensembles and static-overlay protection with real weights on real footage.

Models come from ``load_interpolator`` as every shell gets them, fp32 (the faster CPU path where
bf16 is emulated, and what ``--quality best`` uses). Quality: every 6th drop-frame triplet
(frames i, i+2 predict i+1) inside one shot of bikes and carphone at native size (the 720p clip
is left to benchmarks/ensemble_quality.py, for time): single triplets swing by +-2 dB between
models on fast motion, so a handful of them cannot tell a 0.4 dB gain from noise. The full
table: benchmarks/README.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from overlay_footage import make_overlay, protection_variants, region_psnr, region_scores

from fluidframes.engine import load_interpolator
from fluidframes.ensemble import Ensemble
from fluidframes.metrics import psnr, ssim
from fluidframes.options import ModelConfig

pytestmark = pytest.mark.integration

# bikes cuts after 29, 75, 136, 186, 241
CUTS = {"bikes": (29, 75, 136, 186, 241), "carphone": ()}
LENGTH = {"bikes": 250, "carphone": 120}  # frames decoded
TRIPLETS = {"bikes": (12, 55, 100, 160, 210), "carphone": (11, 29, 48, 67, 87)}
SCORED = {c: [i for i in range(0, LENGTH[c] - 2) if not any(i <= k < i + 2 for k in CUTS[c])][::6]
          for c in CUTS}
NAMES = ("rife-4.25", "rife-ensemble", "rife-ensemble-max")


@pytest.fixture(scope="module")
def models():
    return {n: load_interpolator(ModelConfig(model=n, device="cpu", precision="fp32"))
            for n in NAMES}


def _frames(sample_frames, clip):
    return sample_frames(clip, max(TRIPLETS[clip]) + 3)


@pytest.fixture(scope="module")
def scores(models, sample_frames):
    """{clip: {model: (psnr, ssim) means}} at t=0.5, every model by its own ``interpolate``
    (the ensembles as shipped: protection on)."""
    table = {}
    for clip, starts in SCORED.items():
        fr = sample_frames(clip, LENGTH[clip])
        rows: dict[str, list] = {}
        for i in starts:
            a, gt, b = fr[i], fr[i + 1], fr[i + 2]
            for name, m in models.items():
                o = m.interpolate(a, b, 0.5)
                rows.setdefault(name, []).append((psnr(o, gt), ssim(o, gt)))
        table[clip] = {k: tuple(np.mean(v, axis=0)) for k, v in rows.items()}
        for k, v in rows.items():
            print(f"{clip:9} {k:18} PSNR {table[clip][k][0]:6.2f}  SSIM {table[clip][k][1]:.4f}"
                  f"  ({len(v)} triplets)")
    return table


@pytest.mark.parametrize("name,floor", [("rife-ensemble", 0.2), ("rife-ensemble-max", 0.35)])
def test_ensembles_beat_rife425(scores, name, floor):
    """Every triplet of these clips (benchmarks/ensemble_passes.py --dense) measured +0.43 /
    +0.55 dB (rife-ensemble) and +0.67 / +0.69 (max) on bikes / carphone."""
    gains = [scores[c][name][0] - scores[c]["rife-4.25"][0] for c in SCORED]
    print(name, "gains dB", [f"{g:+.3f}" for g in gains])
    assert np.mean(gains) > floor
    assert min(gains) > 0.05  # every clip better
    assert all(scores[c][name][1] >= scores[c]["rife-4.25"][1] for c in SCORED)


def test_max_beats_balanced(scores):
    mean = {n: np.mean([scores[c][n][0] for c in SCORED]) for n in NAMES[1:]}
    assert mean["rife-ensemble-max"] > mean["rife-ensemble"]


def test_multi4_gain(models, sample_frames):
    """t = .25/.5/.75 from frames i and i+4 (ten windows of carphone), one batch per pass,
    frames of the input's shape."""
    fr = sample_frames("carphone", LENGTH["carphone"])
    gains = []
    for i in range(0, LENGTH["carphone"] - 4, 12):
        a, b, truth = fr[i], fr[i + 4], fr[i + 1 : i + 4]
        single = models["rife-4.25"].interpolate_many(a, b, [0.25, 0.5, 0.75])
        ens = models["rife-ensemble"].interpolate_many(a, b, [0.25, 0.5, 0.75])
        assert [o.shape for o in ens] == [a.shape] * 3
        gains += [psnr(o, g) - psnr(s, g) for o, s, g in zip(ens, single, truth)]
    print(f"multi-4 gain {np.mean(gains):+.3f} dB over {len(gains)} frames")
    assert np.mean(gains) > 0.05


def _variants(ens: Ensemble, a, b) -> dict[str, np.ndarray]:
    """t=0.5 with protection off, on without the fill, and on as ``run`` does it."""
    return dict(zip(("off", "on", "fill"), protection_variants(ens, a, b)))


# bikes pairs inside one shot where the picture pans under the overlays (the fill runs on all
# of them, see test_fill_ran); the other triplets above are mostly still camera
OVERLAID = (42, 66, 96, 102)
FILL_GAIN = {"subtitle picture": 0.5, "logo picture": 0.3}  # dB over protection without fill


@pytest.fixture(scope="module")
def overlaid(sample_frames):
    """Overlay pixels, boxes, the boxes' picture pixels and whole frames, protection off / on
    without the fill / on with it (``fill``): bikes with a burned-in subtitle (outline letters,
    or a boxed caption on an opaque plate) and a corner logo; the truth is the same overlay on
    the real frame. ``<region> picture clean``: the same model on the footage without the
    overlay, on the same picture pixels."""
    fr = sample_frames("bikes", max(OVERLAID) + 3)
    objs = {n: load_interpolator(ModelConfig(model=n, device="cpu", precision="fp32",
                                             protect_static=True))
            for n in ("rife-4.25", "rife-ensemble")}
    res: dict = {}
    for style in ("outline", "boxed"):
        ov = make_overlay(*fr[0].shape[:2], style=style)
        for i in OVERLAID:
            a, gt, b = (ov.burn(x) for x in fr[i : i + 3])
            for name, ens in objs.items():
                assert ens.protect_static and ens.fill_overlays
                outs = _variants(ens, a, b)
                clean = _variants(ens, fr[i], fr[i + 2])["off"]
                d = res.setdefault(style, {}).setdefault(name, {})
                d.setdefault("filled", []).append(not np.array_equal(outs["on"], outs["fill"]))
                for reg in ov.regions:
                    if ov.picture[reg].any():
                        d.setdefault("clean", {}).setdefault(reg + " picture", []).append(
                            region_psnr(clean, fr[i + 1], ov.picture[reg]))
                for tag, o in outs.items():
                    t = d.setdefault(tag, {})
                    for k, v in region_scores(ov, o, gt).items():
                        t.setdefault(k, []).append(v)
                assert np.array_equal(ens.interpolate(a, b, 0.5), outs["fill"])  # run() too
    for style, by in res.items():
        for n, d in by.items():
            print(style, n, "filled", d["filled"])
            for k in d["off"]:
                print(f"  {k:18}" + "".join(f" {t} {np.mean(d[t][k]):6.2f}" for t in
                                            ("off", "on", "fill", "clean") if k in d[t])
                      + "   fill per pair " + " ".join(f"{x:.2f}" for x in d["fill"][k]))
    return res


@pytest.mark.parametrize("name", ["rife-4.25", "rife-ensemble"])
def test_fill_ran(overlaid, name):
    assert all(overlaid["outline"][name]["filled"]) and all(overlaid["boxed"][name]["filled"])


@pytest.mark.parametrize("name", ["rife-4.25", "rife-ensemble"])
def test_protection_keeps_burned_in_overlays_sharp(overlaid, name):
    d = overlaid["outline"][name]
    off, on = ({k: np.mean(v) for k, v in d[t].items()} for t in ("off", "fill"))
    assert min(d["fill"]["subtitle"]) >= 45 and min(d["fill"]["logo"]) >= 45  # own pixels
    assert on["subtitle"] > off["subtitle"] + 5
    assert on["subtitle box"] > off["subtitle box"] + 1 and on["logo box"] >= off["logo box"]
    assert on["frame"] >= off["frame"]


@pytest.mark.parametrize("name", ["rife-4.25", "rife-ensemble"])
def test_fill_gives_the_picture_between_the_letters_its_motion_back(overlaid, name):
    """The box's picture pixels (between the letters, the margins): with the fill closer to
    what the model makes of them without any overlay, and the frame no worse."""
    d = overlaid["outline"][name]
    on, fill, clean = ({k: np.mean(v) for k, v in d[t].items()} for t in ("on", "fill", "clean"))
    for reg in ("subtitle picture", "logo picture"):
        assert fill[reg] > on[reg] + FILL_GAIN[reg]
        assert fill[reg] <= clean[reg] + 1.0  # measured against something that can be reached
    assert fill["frame"] >= on["frame"]
    assert fill["subtitle box"] > on["subtitle box"]


@pytest.mark.parametrize("name", ["rife-4.25", "rife-ensemble"])
def test_boxed_caption_is_as_sharp_as_the_source(overlaid, name):
    d = overlaid["boxed"][name]
    assert min(d["fill"]["subtitle box"]) >= 45  # the plate and its letters: all overlay
    assert np.mean(d["fill"]["frame"]) >= np.mean(d["off"]["frame"])


def test_protection_costs_nothing_on_clean_footage_and_static_scenes(models, sample_frames):
    """Clean triplets: the whole frame within 0.01 dB; one real frame shown twice with
    independent noise (sigma 1.5; truth: the frame): no worse, and still (nothing filled)."""
    ens = models["rife-ensemble"]
    prot = Ensemble(ens.members, passes=ens.passes, protect_static=True)
    rng = np.random.default_rng(7)
    for clip, starts in TRIPLETS.items():
        fr = _frames(sample_frames, clip)
        for i in starts[:2]:
            o = _variants(prot, fr[i], fr[i + 2])
            assert psnr(o["fill"], fr[i + 1]) >= psnr(o["off"], fr[i + 1]) - 0.01
        f = fr[30]
        a, b = (np.clip(f + rng.normal(0, 1.5, f.shape), 0, 255).round().astype(np.uint8)
                for _ in range(2))
        o = _variants(prot, a, b)
        print(clip, f"static scene PSNR {psnr(o['off'], f):.3f} -> {psnr(o['fill'], f):.3f}")
        assert np.array_equal(o["on"], o["fill"])
        assert psnr(o["fill"], f) >= psnr(o["off"], f) - 0.01 and psnr(o["off"], f) > 40
