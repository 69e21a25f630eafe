"""Real footage with static overlays burned in at test time: a subtitle and a corner logo.

The overlay layer (RGBA, drawn with Pillow) is the same in every frame, as a burned-in subtitle
or a broadcaster's logo is; the truth for an interpolated frame is the same layer composited on
the real in-between frame. Two subtitle styles: ``outline`` (white letters with a black outline
straight on the picture) and ``boxed`` (white letters on an opaque dark plate, the broadcast
caption). Also used by benchmarks/ensemble_quality.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass
class Overlay:
    rgb: np.ndarray  # H x W x 3 float
    alpha: np.ndarray  # H x W x 1 float in [0, 1]
    regions: dict[str, np.ndarray]  # name -> H x W bool (the overlay's box, a few px around it)
    opaque: dict[str, np.ndarray]  # name -> H x W bool: the overlay's own (opaque) pixels
    picture: dict[str, np.ndarray]  # name -> H x W bool: the box's pixels the overlay leaves be

    def burn(self, frame: np.ndarray) -> np.ndarray:
        out = frame.astype(np.float64) * (1 - self.alpha) + self.rgb * self.alpha
        return np.rint(out).clip(0, 255).astype(np.uint8)


def make_overlay(height: int, width: int, text: str = "Where are you going, little rabbit?",
                 logo: str = "FF", margin: int = 4, style: str = "outline") -> Overlay:
    """A white subtitle at the bottom centre and an orange logo badge with white letters in the
    top-right corner (opaque, as a burned-in station logo is).

    ``style`` ``outline``: the letters have a black outline and sit on the picture; the
    subtitle's box is the text's bounding box plus ``margin`` px, with moving picture between
    the letters. ``boxed``: the letters sit on an opaque dark plate (a broadcast caption) and the
    box is the plate itself, all overlay. The logo's box is the badge plus ``margin``.
    """
    if style not in ("outline", "boxed"):
        raise ValueError(f"unknown subtitle style {style!r}")
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(10, height // 16)
    font = ImageFont.load_default(size=size)
    stroke = max(1, size // 14) if style == "outline" else 0
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    tx = (width - (x1 - x0)) // 2 - x0
    ty = height - height // 12 - (y1 - y0) - y0
    sub_box = draw.textbbox((tx, ty), text, font=font, stroke_width=stroke)
    if style == "boxed":
        pad = max(2, size // 4)
        sub_box = (sub_box[0] - pad, sub_box[1] - pad, sub_box[2] + pad, sub_box[3] + pad)
        draw.rectangle((sub_box[0], sub_box[1], sub_box[2] - 1, sub_box[3] - 1),
                       fill=(16, 16, 16, 255))
        draw.text((tx, ty), text, font=font, fill=(255, 255, 255, 255))
    else:
        draw.text((tx, ty), text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke,
                  stroke_fill=(0, 0, 0, 255))
    lw, lh = max(16, width // 9), max(12, height // 9)
    lx, ly = width - lw - width // 40, height // 30
    logo_layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ld = ImageDraw.Draw(logo_layer)
    ld.rounded_rectangle((lx, ly, lx + lw, ly + lh), radius=lh // 5, fill=(240, 120, 20, 255))
    lfont = ImageFont.load_default(size=max(8, lh * 2 // 3))
    bx0, by0, bx1, by1 = ld.textbbox((0, 0), logo, font=lfont)
    ld.text((lx + (lw - (bx1 - bx0)) // 2 - bx0, ly + (lh - (by1 - by0)) // 2 - by0), logo,
            font=lfont, fill=(255, 255, 255, 230))
    layer = Image.alpha_composite(layer, logo_layer)
    arr = np.asarray(layer).astype(np.float64)
    regions = {}
    sub_margin = 0 if style == "boxed" else margin
    for name, (a, b, c, d), mg in (("subtitle", sub_box, sub_margin),
                                   ("logo", (lx, ly, lx + lw, ly + lh), margin)):
        m = np.zeros((height, width), bool)
        m[max(0, b - mg): d + mg, max(0, a - mg): c + mg] = True
        regions[name] = m
    alpha = arr[..., 3:] / 255.0
    opaque = {k: m & (alpha[..., 0] >= 0.99) for k, m in regions.items()}
    picture = {k: m & (alpha[..., 0] == 0) for k, m in regions.items()}
    return Overlay(arr[..., :3], alpha, regions, opaque, picture)


def region_psnr(out: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    diff = out[region].astype(np.float64) - truth[region].astype(np.float64)
    mse = float(np.mean(diff**2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def region_scores(ov: Overlay, out: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """PSNR per overlay of its own pixels and of its box (capped at 99 dB: exact), of the box's
    picture pixels where it has any (uncapped), and of the whole frame."""
    from fluidframes.metrics import psnr

    scores = {}
    for reg in ov.regions:
        scores[reg] = min(99.0, region_psnr(out, truth, ov.opaque[reg]))
        scores[reg + " box"] = min(99.0, region_psnr(out, truth, ov.regions[reg]))
        if ov.picture[reg].any():
            scores[reg + " picture"] = region_psnr(out, truth, ov.picture[reg])
    scores["frame"] = psnr(out, truth)
    return scores


def protection_variants(ens, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    """t=0.5 between ``a`` and ``b`` from a :class:`fluidframes.ensemble.Ensemble`: protection
    off, on without the fill, and on with it (what ``run`` does); one set of passes for the
    first two, run again on the filled pair only where the fill applies."""
    from fluidframes import overlays

    p0, p1 = ens.prepare(a), ens.prepare(b)
    s0, s1 = ens._source(p0), ens._source(p1)
    out = ens.combine(*ens.candidates(p0, p1, [0.5]))
    found = overlays.detect(s0, s1)
    q0, q1, weight = ens.filled(p0, p1, s0, s1, found)
    on = overlays.compose(out, s0, s1, [0.5], None if found is None else found.weight)
    fill = on if q0 is p0 else overlays.compose(ens.combine(*ens.candidates(q0, q1, [0.5])),
                                                s0, s1, [0.5], weight)
    return tuple(ens._to_numpy(x, p0)[0] for x in (out, on, fill))
