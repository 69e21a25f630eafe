"""Static-overlay protection: keep burned-in subtitles, logos and letterbox bars still.

Flow networks see a frame as one picture. Where a static overlay sits on moving footage (a
subtitle over a pan, a channel logo in a corner) the flow around it is the picture's motion, and
RIFE drags part of that motion onto the overlay: the letters smear or wobble in the interpolated
frames although they stand perfectly still in every source frame.

The test here is a comparison of two explanations for each output pixel, both from data the
interpolation already has:

* **still**: the pixel is the same in both source frames (``|a - b|``, 3x3 mean, below a noise
  ramp), so "it does not move" explains it;
* **moved**: the interpolation's own two warped samples of that pixel disagree (``|w0 - w1|``,
  the motion residual, see :meth:`fluidframes.engine.Interpolator.raw`) by clearly more than the
  two source frames do, so the flow it used explains the pixel worse than stillness does.

Only pixels where both hold are overlay candidates. A genuinely static scene does not trigger it:
where nothing moves the flow is about zero, the warps equal the sources and ``|w0 - w1|`` equals
``|a - b|``. Moving footage that merely looks alike in both frames (flat sky, a slow gradient)
does not trigger it either, because a correct flow explains it at least as well (``|w0 - w1|``
small). Where it does trigger on a genuinely still background (flow that spilt over from a moving
neighbour), taking the source pixel is the right answer anyway.

The candidate map is cleaned of specks (a pixel needs enough support in its 5x5 neighbourhood)
and feathered (a Gaussian of ``soft`` pixels), and the output is composed as
``out * (1 - S) + ((1 - t) a + t b) * S``.

All functions take and return torch tensors, N x C x H x W, fp32 in [0, 1], and are used by the
ensembles and, through :func:`fluidframes.ensemble.with_overlay_protection`, by single models.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Defaults, chosen on development footage that is not part of the tests (see
# benchmarks/ensemble_quality.py): difference ramps in units of 1/255.
STILL = (2.0, 6.0)  # |a - b| below the first: still; above the second: not
MARGIN = (2.0, 6.0)  # |w0 - w1| - |a - b| below the first: no evidence; above the second: full
STRUCTURE = (8.0, 24.0)  # local contrast (max 5x5 of the pixel-to-pixel step): none .. full
SUPPORT = 0.35  # share of the 5x5 neighbourhood that must be candidates too (ramp from half)
SOFT = 1.0  # feather, Gaussian sigma in pixels


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


def static_weight(a: Tensor, b: Tensor, residual: Tensor, *, still: Sequence[float] = STILL,
                  margin: Sequence[float] = MARGIN, structure: Sequence[float] | None = STRUCTURE,
                  support: float = SUPPORT, soft: float = SOFT) -> Tensor | None:
    """Where to show the source frames instead of the interpolation (N x 1 x H x W in [0, 1]),
    or None where no pixel qualifies (the common case: the rest is skipped).

    ``a``, ``b``: the two source frames (1 x C x H x W); ``residual``: the interpolation's
    motion residual ``mean_c |w0 - w1|`` (N x 1 x H x W, one per timestep; for an ensemble the
    mean over its passes).
    """
    d = _box((a[:, :3] - b[:, :3]).abs_().mean(1, keepdim=True), 3)  # 1 x 1 x H x W
    e = _box(residual, 3)
    s = (1.0 - _ramp(d, still[0], still[1])) * _ramp(e - d, margin[0], margin[1])
    if structure is not None and bool((s > 0).any()):
        s = s * _ramp(_contrast(a), structure[0], structure[1])
    if not bool((s > 0).any()):
        return None
    if support > 0:
        s = s * ((_box(s, 5) - support / 2) / (support / 2)).clamp_(0.0, 1.0)
    if soft > 0:
        s = torch.maximum(s, _gauss(s, soft))
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


def protect(out: Tensor, a: Tensor, b: Tensor, ts: Sequence[float], residual: Tensor,
            **kw) -> Tensor:
    """:func:`static_weight` then :func:`compose`, in one call."""
    return compose(out, a, b, ts, static_weight(a, b, residual, **kw))
