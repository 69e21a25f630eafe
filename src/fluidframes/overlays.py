"""Static-overlay protection: keep burned-in subtitles, logos and letterbox bars still.

Flow networks see a frame as one picture. Where a static overlay sits on moving footage (a
subtitle over a pan, a channel logo in a corner) the flow around it is the picture's motion, and
RIFE drags part of that motion onto the overlay: the letters smear or wobble in the interpolated
frames although they stand perfectly still in every source frame.

The test is per pixel and uses only the two source frames ``a`` and ``b``:

* **still**: the pixel is the same in both source frames: ``max_c |a - b|`` below a small noise
  ramp (1 -> 3 levels of 255), per pixel, so the one-pixel outline of a letter counts as well as
  its inside (a 3x3 mean would mix in the moving picture beside a thin stroke);
* **structure**: there is an edge within 5x5 (largest pixel-to-pixel step, 8 -> 24 levels):
  overlays are drawn to be seen, and flat still pixels are interpolated right anyway;
* **support**: enough of the 3x3 neighbourhood qualifies too, so a moving texture that happens
  to repeat a value at one pixel does not count.

Why this cannot cost much where it is wrong: a still pixel is composed as ``(1 - t) a + t b``,
which differs from either source by at most ``|a - b|`` (<= 3 levels here), so a slowly moving
texture or a genuinely still scene loses at most that, and a still scene gains the average of
two noisy frames. Measured on clean real footage (benchmarks/ensemble_quality.py) the whole-frame
PSNR changes by about +-0.005 dB; on a subtitle burned into moving footage its pixels go from
~30 dB to exact.

The weight map is feathered (a Gaussian of ``soft`` pixels) only *within* still pixels, so the
edge is soft but never reaches into the moving picture around the overlay, and the output is
composed as ``out * (1 - S) + ((1 - t) a + t b) * S``.

All functions take and return torch tensors, N x C x H x W, fp32 in [0, 1], and are used by the
ensembles and, through :func:`fluidframes.ensemble.with_overlay_protection`, by single models.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Defaults, chosen on development windows of the sample clips that the tests do not use (levels
# of 255).
STILL = (1.0, 3.0)  # max_c |a - b|: below the first still, above the second not
STRUCTURE = (8.0, 24.0)  # local contrast (max 5x5 of the pixel-to-pixel step): none .. full
SUPPORT = 0.4  # share of the 3x3 neighbourhood that must qualify too (ramp from half of it)
SOFT = 1.0  # feather, Gaussian sigma in pixels, within still pixels
# Fill before flow (:func:`fill_mask`, :func:`fill`)
THIN = 7  # still structure that an opening of this many half-resolution px removes is thin
AROUND = 0.4  # share of moving pixels within ~32 px that a filled pixel needs around it
MOVING = 12.0  # levels of max_c |a - b| above which a pixel clearly moves
PANNING = 0.2  # share of the frame that must move clearly for any fill (not a still camera)
GROW = 0  # the fill covers the detected pixels grown by this many px


def _box(x: Tensor, k: int) -> Tensor:
    if k <= 1:
        return x
    p = k // 2
    return F.avg_pool2d(F.pad(x, (p, p, p, p), mode="replicate"), k, 1)


def _gauss(x: Tensor, sigma: float) -> Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(round(3 * sigma)))
    g = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32, device=x.device) ** 2
                  / (2 * sigma * sigma))
    g = (g / g.sum()).to(x.dtype)
    n, c, h, w = x.shape
    y = F.pad(x.reshape(n * c, 1, h, w), (r, r, r, r), mode="replicate")
    y = F.conv2d(F.conv2d(y, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    return y.reshape(n, c, h, w)


def _contrast(x: Tensor) -> Tensor:
    """Largest pixel-to-pixel step (channel mean) within 5x5: high on and beside edges."""
    g = x[:, :3].mean(1, keepdim=True)
    dx = F.pad((g[..., :, 1:] - g[..., :, :-1]).abs(), (0, 1, 0, 0))
    dy = F.pad((g[..., 1:, :] - g[..., :-1, :]).abs(), (0, 0, 0, 1))
    return _max5(torch.maximum(dx, dy))


def _max5(x: Tensor) -> Tensor:
    """5x5 running maximum (edges replicated), as shifted maxima along each axis (``max_pool2d``
    with stride 1 is ~6x slower on the CPU: 55 vs 9 ms at 1280x720)."""
    h, w = x.shape[-2:]
    p = F.pad(x, (2, 2, 0, 0), mode="replicate")
    r = p[..., :, 0:w]
    for k in range(1, 5):
        r = torch.maximum(r, p[..., :, k : k + w])
    p = F.pad(r, (0, 0, 2, 2), mode="replicate")
    r = p[..., 0:h, :]
    for k in range(1, 5):
        r = torch.maximum(r, p[..., k : k + h, :])
    return r


def _ramp(x: Tensor, lo: float, hi: float) -> Tensor:
    """0 below ``lo``, 1 above ``hi``, linear between (inputs in 1/255 units)."""
    return ((x * 255.0 - lo) / (hi - lo)).clamp_(0.0, 1.0)


def static_weight(a: Tensor, b: Tensor, *, still: Sequence[float] = STILL,
                  structure: Sequence[float] | None = STRUCTURE, support: float = SUPPORT,
                  soft: float = SOFT) -> Tensor | None:
    """Where to show the source frames instead of the interpolation (1 x 1 x H x W in [0, 1],
    the same for every timestep), or None where no pixel qualifies (the rest is skipped).

    ``a``, ``b``: the two source frames (1 x C x H x W, fp32 in [0, 1]; alpha is ignored).
    """
    d = (a[:, :3] - b[:, :3]).abs_().amax(1, keepdim=True)
    still_px = 1.0 - _ramp(d, still[0], still[1])
    if not bool((still_px > 0).any()):
        return None
    s = still_px
    if structure is not None:
        s = s * _ramp(_contrast(a), structure[0], structure[1])
    if support > 0:
        s = s * ((_box(s, 3) - support / 2) / (support / 2)).clamp_(0.0, 1.0)
    if not bool((s > 0).any()):
        return None
    if soft > 0:
        s = torch.maximum(s, _gauss(s, soft) * still_px)
    return s


def source_blend(a: Tensor, b: Tensor, ts: Sequence[float]) -> Tensor:
    """``(1 - t) a + t b`` for every ``t`` (N x C x H x W)."""
    t = torch.tensor(list(ts), dtype=a.dtype, device=a.device).view(-1, 1, 1, 1)
    return torch.lerp(a, b, t)


def compose(out: Tensor, a: Tensor, b: Tensor, ts: Sequence[float], weight: Tensor | None
            ) -> Tensor:
    """``out`` with the static regions (``weight``) taken from the source frames."""
    if weight is None:
        return out
    return torch.lerp(out, source_blend(a, b, ts), weight)


def protect(out: Tensor, a: Tensor, b: Tensor, ts: Sequence[float], **kw) -> Tensor:
    """:func:`static_weight` then :func:`compose`, in one call."""
    return compose(out, a, b, ts, static_weight(a, b, **kw))


def _min_max(x: Tensor, k: int, op) -> Tensor:
    """k x k running min or max (``op``: torch.minimum / torch.maximum), edges replicated."""
    h, w = x.shape[-2:]
    r = k // 2
    p = F.pad(x, (r, r, 0, 0), mode="replicate")
    y = p[..., :, 0:w]
    for i in range(1, k):
        y = op(y, p[..., :, i : i + w])
    p = F.pad(y, (0, 0, r, r), mode="replicate")
    y = p[..., 0:h, :]
    for i in range(1, k):
        y = op(y, p[..., i : i + h, :])
    return y


def _upsample(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="nearest")


def fill_mask(a: Tensor, b: Tensor, weight: Tensor | None, *, thin: int = THIN,
              around: float = AROUND, moving: float = MOVING, panning: float = PANNING,
              grow: int = GROW,
              still: Sequence[float] = STILL) -> tuple[Tensor, Tensor] | None:
    """The overlay-like static pixels to fill before the flow runs, or None where there are
    none: ``(mask, weight)``, the pixels to fill (1 x 1 x H x W bool) and ``weight``
    (:func:`static_weight`) extended over the overlay's still inside (a caption's plate,
    a badge's face), which is composed from the sources too (still, so within ``|a - b|``).

    Seeds are static structure (``weight`` >= 0.5) that is *thin* (an opening of ``thin`` px at
    half resolution removes it: letters, outlines, the rim of a badge; not a large still area)
    and *surrounded by motion* (at least ``around`` of the pixels within ~32 px differ between
    ``a`` and ``b`` by more than ``moving`` levels: the picture clearly moves around it, which
    compression noise on a still background does not). From the seeds the region grows (up to
    ~24 px) through still pixels without structure, and the mask is the region grown by
    ``grow`` px more, so the overlay's soft (anti-aliased) edge goes with it.
    """
    if weight is None:
        return None
    h, w = weight.shape[-2:]
    s = (weight >= 0.5).float()
    if not bool(s.any()):
        return None
    hh, hw = h + h % 2, w + w % 2

    def half(x: Tensor) -> Tensor:
        return F.avg_pool2d(F.pad(x, (0, w % 2, 0, h % 2), mode="replicate"), 2)

    # thin: what an opening at half resolution (min then max over thin x thin) removes
    sh = (half(s) > 0.5).float()
    opened = _min_max(_min_max(sh, thin, torch.minimum), thin, torch.maximum)
    seeds = s * (1.0 - _upsample(opened, (hh, hw))[..., :h, :w])
    if not bool(seeds.any()):
        return None
    # surrounded by motion: the share of clearly moving pixels in 9 x 9 at quarter resolution
    d = (a[:, :3] - b[:, :3]).abs().amax(1, keepdim=True).mul_(255.0)
    clear = (d > moving).float()
    if float(clear.mean()) < panning:
        return None
    ph, pw = -h % 4, -w % 4
    q = F.avg_pool2d(F.pad(clear, (0, pw, 0, ph), mode="replicate"), 4)
    share = _upsample(_box(q, 9), (h + ph, w + pw))[..., :h, :w]
    seeds = seeds * (share >= around).float()
    if not bool(seeds.any()):
        return None
    # the rest of the overlay (a caption's plate, a badge's face and letters): grow at half
    # resolution through still pixels, then take the still pixels the region reaches
    still_px = d <= still[1]
    calm = (half(still_px.float()) > 0.5).float()
    region = (half(seeds) > 0).float()
    for _ in range(12):
        region = torch.maximum(region, _min_max(region, 3, torch.maximum) * calm)
    region = _min_max(region, 3, torch.maximum)
    inside = (_upsample(region, (hh, hw))[..., :h, :w] > 0) & still_px
    mask = (seeds > 0) | inside
    if grow > 0:
        mask = _min_max(mask.float(), 2 * grow + 1, torch.maximum) > 0
    return mask, torch.maximum(weight, inside.float())


def fill(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` (1 x C x H x W) with the ``mask`` pixels filled from the picture around them by
    push-pull: weighted means of the unmasked pixels on a pyramid of halvings, each level's
    holes filled from the next coarser one (smooth, the picture's colours, ~5 ms at 720p)."""
    keep = (~mask).to(x.dtype)
    levels = []
    val, wt = x * keep, keep
    while True:
        levels.append((val, wt))
        h, w = wt.shape[-2:]
        if (h <= 2 and w <= 2) or bool((wt > 0).all()):
            break
        pad = (0, w % 2, 0, h % 2)
        val = F.avg_pool2d(F.pad(val, pad), 2) * 4.0
        wt = F.avg_pool2d(F.pad(wt, pad), 2) * 4.0
    val, wt = levels[-1]
    out = val / wt.clamp(min=1e-6)
    for val, wt in reversed(levels[:-1]):
        h, w = wt.shape[-2:]
        up = F.interpolate(out, scale_factor=2.0, mode="bilinear", align_corners=False)[..., :h, :w]
        c = wt.clamp(max=1.0)
        out = val / wt.clamp(min=1e-6) * c + up * (1.0 - c)
    return torch.where(mask, out, x)
