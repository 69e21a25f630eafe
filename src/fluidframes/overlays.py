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
  to repeat a value at one pixel does not count;
* **motion**: something in the pair clearly moves (0.5 % of the frame by more than 12 levels):
  without motion there is no drag to undo, and a genuinely still scene is left as it is;
* **inside**: from there the weight reaches (up to 24 px) through flat pixels that do not change
  at all: the face of a caption plate or of a badge has no edge of its own but is dragged like
  the letters on it.

Why this cannot cost much where it is wrong: a still pixel is composed as ``(1 - t) a + t b``,
which differs from either source by at most ``|a - b|`` (<= 3 levels here), so a slowly moving
texture or a genuinely still scene loses at most that, and a still scene gains the average of
two noisy frames. Measured on clean real footage (benchmarks/ensemble_quality.py) the whole-frame
PSNR changes by a few thousandths of a dB; on a subtitle burned into moving footage its pixels
go from ~30 dB to exact.

The weight map is feathered (a Gaussian of ``soft`` pixels) only *within* still pixels, so the
edge is soft but never reaches into the moving picture around the overlay, and the output is
composed as ``out * (1 - S) + ((1 - t) a + t b) * S``.

**Fill before flow.** Composing fixes the overlay but not the picture around it: the static
letters hold the flow back, so the moving picture between and beside them is interpolated
badly. :func:`fill_mask` picks the overlay-like part of the detection (thin static structure,
moving picture all around, in a pair where the picture clearly moves; a still camera's
background never qualifies), and the ensembles run their networks on copies of both source
frames with those pixels filled from the picture around them (:func:`fill`), then compose the
overlay from the sources as above (every filled pixel is composed). Only a pair where something
is found pays for it: two more ``prepare`` and the passes on the filled frames.

All functions take and return torch tensors, N x C x H x W, fp32 in [0, 1], and are used by the
ensembles and, through :func:`fluidframes.ensemble.with_overlay_protection`, by single models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Defaults, chosen on development windows of the sample clips that the tests do not use (levels
# of 255).
STILL = (1.0, 3.0)  # max_c |a - b|: below the first still, above the second not
STRUCTURE = (8.0, 24.0)  # local contrast (max 5x5 of the pixel-to-pixel step): none .. full
SUPPORT = 0.4  # share of the 3x3 neighbourhood that must qualify too (ramp from half of it)
SOFT = 1.0  # feather, Gaussian sigma in pixels, within still pixels
INSIDE = 24  # px the weight reaches from static structure through flat unchanged pixels
MOTION = 0.005  # share of the frame that must clearly move (MOVING) for any protection
# Fill before flow (:func:`fill_mask`, :func:`fill`)
THIN = 7  # still structure that an opening of this many half-resolution px removes is thin
AROUND = 0.4  # share of moving pixels within ~32 px that a filled pixel needs around it
MOVING = 12.0  # levels of max_c |a - b| above which a pixel clearly moves
DENSE = 0.05  # share of seed pixels within ~32 px a seed needs (an overlay is a cluster)
REACH = 24  # px the fill grows from its seeds through still pixels (the rest of the overlay)
RING = 0  # px around the overlay filled and composed too (its soft, half-transparent edge)
PANNING = 0.2  # share of the frame that must move clearly for any fill (not a still camera)


def _separable(x: Tensor, taps: Sequence[float]) -> Tensor:
    """``x`` filtered by ``taps`` along each axis (edges replicated), as weighted shifted copies
    (``conv2d`` with a one-channel kernel, or ``avg_pool2d``, is 5-10x slower on the CPU)."""
    h, w = x.shape[-2:]
    r = len(taps) // 2
    p = F.pad(x, (r, r, 0, 0), mode="replicate")
    y = p[..., :, 0:w] * taps[0]
    for k in range(1, len(taps)):
        y.add_(p[..., :, k : k + w], alpha=taps[k])
    p = F.pad(y, (0, 0, r, r), mode="replicate")
    y = p[..., 0:h, :] * taps[0]
    for k in range(1, len(taps)):
        y.add_(p[..., k : k + h, :], alpha=taps[k])
    return y


def _box(x: Tensor, k: int) -> Tensor:
    """k x k running mean (k odd), edges replicated."""
    if k <= 1:
        return x
    return _separable(x, [1.0 / k] * k)


def _gauss(x: Tensor, sigma: float) -> Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(round(3 * sigma)))
    g = [float(torch.exp(torch.tensor(-(i * i) / (2 * sigma * sigma)))) for i in range(-r, r + 1)]
    return _separable(x, [v / sum(g) for v in g])


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
    """0 below ``lo``, 1 above ``hi``, linear between (all in levels of 255)."""
    return ((x - lo) / (hi - lo)).clamp_(0.0, 1.0)


@dataclass
class Detection:
    """What :func:`detect` found in a pair: ``weight`` (see :func:`static_weight`), ``core``
    (its static structure alone, before the reach into flat unchanged pixels and the feather)
    and
    ``diff`` (``max_c |a - b|`` in levels of 255), all 1 x 1 x H x W."""

    weight: Tensor
    core: Tensor
    diff: Tensor


def detect(a: Tensor, b: Tensor, *, still: Sequence[float] = STILL,
           structure: Sequence[float] | None = STRUCTURE, support: float = SUPPORT,
           soft: float = SOFT, inside: int = INSIDE, motion: float = MOTION
           ) -> Detection | None:
    """:func:`static_weight` with what it was made of, for :func:`fill_mask`; None where no
    pixel qualifies."""
    d = (a[:, :3] - b[:, :3]).abs_().amax(1, keepdim=True).mul_(255.0)
    if float((d > MOVING).float().mean()) < motion:
        return None  # nothing moves: nothing drags an overlay, and no still scene pays
    still_px = 1.0 - _ramp(d, still[0], still[1])
    if not bool((still_px > 0).any()):
        return None
    s = still_px
    contrast = None
    if structure is not None:
        contrast = _contrast(a).mul_(255.0)
        s = s * _ramp(contrast, structure[0], structure[1])
    if support > 0:
        s = s * ((_box(s, 3) - support / 2) / (support / 2)).clamp_(0.0, 1.0)
    if not bool((s > 0).any()):
        return None
    core = s
    if inside > 0 and contrast is not None:
        s = torch.maximum(s, _still_inside(s >= 0.5, (d <= still[0]) & (contrast < structure[0]),
                                           inside))
    if soft > 0:
        s = torch.maximum(s, _gauss(s, soft) * still_px)
    return Detection(s, core, d)


def static_weight(a: Tensor, b: Tensor, **kw) -> Tensor | None:
    """Where to show the source frames instead of the interpolation (1 x 1 x H x W in [0, 1],
    the same for every timestep), or None where no pixel qualifies (the rest is skipped).

    ``a``, ``b``: the two source frames (1 x C x H x W, fp32 in [0, 1]; alpha is ignored).
    Keywords (:func:`detect`): ``still``, ``structure``, ``support``, ``soft`` (see the module's
    text), ``motion``: the share of the frame that must clearly move (``max_c |a - b|`` above
    ``MOVING`` levels; below it nothing can drag an overlay and a still scene is left to the
    networks), and ``inside``: how far (px, in steps of 4) the weight also reaches from static
    structure through flat pixels that do not change (``max_c |a - b|`` <= ``still[0]``, less
    contrast than ``structure[0]``): the face of a caption plate or a badge, which has no
    structure of its own but is dragged like it (and a flat still pixel is right either way).
    """
    found = detect(a, b, **kw)
    return None if found is None else found.weight


def _down(x: Tensor, k: int) -> Tensor:
    """k x k block means (the last blocks padded by replication)."""
    if k <= 1:
        return x
    h, w = x.shape[-2:]
    return F.avg_pool2d(F.pad(x, (0, -w % k, 0, -h % k), mode="replicate"), k)


def _up(x: Tensor, k: int, h: int, w: int) -> Tensor:
    """A map of k x k blocks back at H x W (nearest)."""
    if k <= 1:
        return x[..., :h, :w]
    return F.interpolate(x, scale_factor=float(k), mode="nearest")[..., :h, :w]


def _still_inside(seed: Tensor, calm: Tensor, reach: int) -> Tensor:
    """The ``calm`` pixels connected to ``seed`` through calm pixels within ``reach`` px
    (grown at quarter resolution, ``reach // 4`` steps of 3 x 3), as a 0/1 float map."""
    h, w = seed.shape[-2:]
    region = (_down(seed.float(), 4) > 0).float()
    cq = (_down(calm.float(), 4) >= 0.5).float()
    for _ in range(max(1, reach // 4)):
        region = torch.maximum(region, _max3(region) * cq)
    return ((_up(_max3(region), 4, h, w) > 0) & calm).float()


def _max3(x: Tensor) -> Tensor:
    return _min_max(x, 3, torch.maximum)


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



def fill_mask(found: Detection | None, *, thin: int = THIN,
              around: float = AROUND, dense: float = DENSE, moving: float = MOVING,
              panning: float = PANNING, reach: int = REACH, ring: int = RING,
              still: Sequence[float] = STILL) -> tuple[Tensor, Tensor] | None:
    """The overlay-like static pixels to fill before the flow runs, or None where there are
    none: ``(mask, weight)``, the pixels to fill (1 x 1 x H x W bool) and ``weight``
    (``found.weight``) extended over every filled pixel (a filled pixel left to the networks
    would show the fill; all but the ``ring`` are still, so composing them from the sources
    costs at most ``|a - b|``).

    Only in a pair where at least ``panning`` of the frame clearly moves (``max_c |a - b|`` above
    ``moving`` levels): a still camera's frame is left alone. Seeds are static structure
    (``found.core`` >= 0.5) that is

    * *thin*: an opening of ``thin`` px at half resolution removes it (letters, outlines, the
      rim of a badge; not a large still area);
    * *surrounded by motion*: at least ``around`` of the pixels within ~32 px clearly move (the
      picture moves all around an overlay; compression noise on a still background does not);
    * *dense*: at least ``dense`` of the pixels within ~32 px are seeds too (an overlay is a
      cluster of such pixels; a still highlight or a piece of a still object is a speck).

    Sizes are in pixels of a working resolution of about 320 rows (a 720-row frame is halved
    first: overlays are drawn in proportion to the frame). From the seeds the region grows up
    to ``reach`` px through still pixels (``<= still[1]``):
    the rest of the overlay, a caption's plate or a badge's face and letters; then by ``ring``
    px more, the overlay's half-transparent edge, which is not still (the picture shows through
    it) but would lose the overlay if the networks painted it from the filled frames.
    """
    if found is None:
        return None
    d = found.diff
    h, w = d.shape[-2:]
    clear = (d > moving).float()
    if float(clear.mean()) < panning:
        return None
    # work at ~320 rows (overlays are drawn in proportion to the frame)
    f = max(1, round(h / 320))
    s = (_down((found.core >= 0.5).float(), f) > 0.5).float()
    hs, ws = s.shape[-2:]
    # thin: what an opening at half the working resolution (min, then max) removes
    half = (_down(s, 2) > 0.5).float()
    opened = _min_max(_min_max(half, thin, torch.minimum), thin, torch.maximum)
    seeds = s * (1.0 - _up(opened, 2, hs, ws))
    # surrounded by motion and dense: shares within 9 x 9 at a quarter of it
    seeds = seeds * (_up(_box(_down(clear, 4 * f), 9), 4, hs, ws) >= around).float()
    if dense > 0:
        seeds = seeds * (_up(_box(_down(seeds, 4), 9), 4, hs, ws) >= dense).float()
    if not bool(seeds.any()):
        return None
    still_px = d <= still[1]
    inside = _still_inside(seeds > 0, _down(still_px.float(), f) >= 0.5, max(4, reach // f))
    inside = ((_up(inside, f, h, w) > 0) & still_px).float()
    mask = ((_up(seeds, f, h, w) > 0) & (found.core >= 0.5)) | (inside > 0)
    if ring > 0:
        mask = _min_max(mask.float(), 2 * ring + 1, torch.maximum) > 0
    return mask, torch.maximum(found.weight, mask.float())


def fill(x: Tensor, mask: Tensor, margin: int = 32) -> Tensor:
    """``x`` (1 x C x H x W) with the ``mask`` pixels (1 x 1 x H x W bool) filled from the
    picture around them: push-pull (weighted means of the unmasked pixels on a pyramid of
    halvings, each level's holes filled from the next coarser one), run on the bands of rows
    that hold masked pixels, ``margin`` px around them (a subtitle and a corner logo: two small
    crops, not the frame)."""
    out = x.clone()
    h, w = mask.shape[-2:]
    rows = mask.any(-1).view(-1).nonzero().view(-1).tolist()
    runs: list[list[int]] = []
    for r in rows:  # rows with masked pixels, grouped where gaps are under two margins
        if runs and r - runs[-1][1] <= 2 * margin:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    for first, last in runs:
        y0, y1 = max(0, first - margin), min(h, last + 1 + margin)
        cols = mask[..., y0:y1, :].any(-2).view(-1).nonzero().view(-1)
        x0, x1 = max(0, int(cols[0]) - margin), min(w, int(cols[-1]) + 1 + margin)
        m = mask[..., y0:y1, x0:x1]
        crop = x[..., y0:y1, x0:x1]
        out[..., y0:y1, x0:x1] = torch.where(m, _push_pull(crop, m), crop)
    return out


def _push_pull(x: Tensor, mask: Tensor) -> Tensor:
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
    return out
