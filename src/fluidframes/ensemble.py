"""Ensembles: several RIFE passes per output frame, combined per pixel.

An ensemble is a list of *passes*, each one member model run on a transformed copy of the pair:

* the pair as it is, ``f(a, b, t)``;
* time-reversed, ``f(b, a, 1 - t)``: the same prepared frames, swapped (no extra ``prepare``);
* mirrored (``flip="h"``, left-right) or upside down (``"v"``): the member's prepared frames of
  the flipped pictures (its encoder features are not flip-equivariant, so they are computed on
  the flipped frame), the result flipped back.

Every pass gives a candidate frame and its *motion residual* ``mean_c |w0 - w1|`` (how much its
two warped samples disagree: small where the flow found the same content in both frames). The
candidates are combined per pixel (:class:`Weighting`): ``mean``, or ``residual``: weights
``exp(-(r_i - min_j r_j) / tau)`` on the Gaussian-smoothed residuals, so a pass whose flow does
not explain a region gives way to one whose flow does there.

What is shared: ``prepare`` runs once per source frame and holds, per member and per flip used,
that member's prepared frame (padding, upload, encoder features, downscales); the time-reversed
passes reuse them; every pass runs all timesteps of a call as one batch, exactly like a single
model, so ``run(p0, p1, [.25, .5, .75])`` returns three frames of the input's shape and dtype.

The objects here have the interpolator interface the pipeline uses (``prepare``, ``run``,
``interpolate``, ``interpolate_many``, ``info``, ``device``); members are ordinary
:class:`~fluidframes.engine.Interpolator` objects with their own backend and precision rules
(the fast CPU path, bf16 convolutions by default on CPUs that have them). Combining runs in fp32.

Static-overlay protection (:mod:`fluidframes.overlays`) runs when ``protect_static`` is on: the
static overlay pixels of a pair are composed from the sources over the combined frame, and where
the detector finds overlay-like structure over a moving picture (``fill_overlays``, on by
default) the passes run on copies of the pair with those pixels filled from the picture around
them, so the flow follows the picture through the overlay; only such pairs pay for it (each
frame prepared again, filled, for that pair). :func:`with_overlay_protection` gives it all to a
single model.

The named ensembles and what they measured are in
:data:`fluidframes.models.registry.ENSEMBLES` (benchmarks/ensemble_quality.py makes the table);
:func:`fluidframes.engine.load_interpolator` builds them. This module does not import the engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from . import overlays
from .errors import InputError
from .frames import FrameInterpolator, check_t
from .models.ifnet import warp
from .models.registry import EnsembleSpec, Pass

FLIPS = ("", "h", "v")
WEIGHTINGS = ("mean", "residual")


@dataclass(frozen=True)
class Weighting:
    """How candidates are combined per pixel: ``mean``, or ``residual`` (weights
    ``exp(-(r_i - min r) / tau)`` on motion residuals smoothed by a Gaussian of ``sigma`` px;
    measured worse than the mean on real footage, kept for the benchmark's comparison)."""

    kind: str = "mean"
    tau: float = 0.02
    sigma: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in WEIGHTINGS:
            raise InputError(f"unknown weighting {self.kind!r}; choose mean or residual")


@dataclass
class EnsemblePrepared:
    """One source frame made ready for every member and flip the ensemble's passes use."""

    views: dict[tuple[str, float, str], Any]  # (model, scale, flip) -> that member's Prepared
    frame: Tensor  # the frame itself, H x W x C on the device (uint8 or int32), for compositing
    height: int
    width: int
    dtype: np.dtype
    channels: int


def _flip_np(img: np.ndarray, flip: str) -> np.ndarray:
    if flip == "h":
        return img[:, ::-1]
    if flip == "v":
        return img[::-1]
    return img


def _unflip(x: Tensor, flip: str) -> Tensor:
    if flip == "h":
        return x.flip(3)
    if flip == "v":
        return x.flip(2)
    return x


class Ensemble(FrameInterpolator):
    """Several passes of member interpolators, combined per pixel.

    Built by :func:`fluidframes.engine.load_interpolator` for an ensemble's name (or for
    ``protect_static`` on a single model): ``members`` maps ``(model name, scale factor)`` to a
    loaded :class:`~fluidframes.engine.Interpolator`, one per zoo model and scale the passes use.
    ``protect_static`` (default: the spec's) composes static overlays from the sources;
    ``fill_overlays`` (with it) runs the passes on filled frames where an overlay is found.
    """

    def __init__(self, members: Mapping[tuple[str, float], Any], spec: EnsembleSpec | None = None,
                 *, passes: Sequence[Pass] | None = None, weighting: Weighting | None = None,
                 protect_static: bool | None = None, fill_overlays: bool = True,
                 name: str | None = None) -> None:
        if not members:
            raise InputError("an ensemble needs at least one member")
        self.spec = spec
        self.passes = tuple(passes if passes is not None else (spec.passes if spec else ()))
        if not self.passes:
            raise InputError("an ensemble needs at least one pass")
        used = {(p.model, p.scale) for p in self.passes}
        self.members = {k: m for k, m in members.items() if k in used}  # only what the passes run
        self.weighting = weighting or Weighting(spec.weighting if spec else "mean")
        self.protect_static = bool(protect_static if protect_static is not None else
                                   (spec.protect_static if spec else False))
        self.fill_overlays = bool(fill_overlays)
        for p in self.passes:
            if (p.model, p.scale) not in members:
                raise InputError(f"pass {p} has no loaded member")
            if p.flip not in FLIPS:
                raise InputError(f"unknown flip {p.flip!r}; choose one of 'h', 'v' or ''")
        devices = {str(m.device) for m in self.members.values()}
        if len(devices) != 1:
            raise InputError(f"ensemble members sit on different devices: {sorted(devices)}")
        first = next(iter(self.members.values()))
        self.device = first.device
        # (model, scale, flip) views the passes need, in first-use order
        self._views = list(dict.fromkeys((p.model, p.scale, p.flip) for p in self.passes))
        infos = [m.info for m in self.members.values()]
        self.info = dataclasses.replace(
            first.info,
            name=name or (spec.name if spec else first.info.name),
            family=("ensemble(" + "+".join(dict.fromkeys(i.family for i in infos)) + ")"
                    if len(self.passes) > 1 else first.info.family),
            parameters=sum(i.parameters for i in infos),
            modulo=max(i.modulo for i in infos),
        )

    @property
    def _plain(self) -> bool:
        """One unmodified pass and nothing to add: the member's own run is the answer."""
        p = self.passes[0]
        return len(self.passes) == 1 and not p.flip and not p.reverse and not self.protect_static

    # ---- frames ------------------------------------------------------------------------------

    @torch.inference_mode()
    def prepare(self, img: np.ndarray) -> EnsemblePrepared:
        """Every member's prepared frame (and flipped frames) for one source frame."""
        self._check_frame(img, "frame")
        views = {(m, s, fl): self.members[(m, s)].prepare(_flip_np(img, fl))
                 for m, s, fl in self._views}
        # a copy: callers (video readers) may reuse the array for the next frame
        frame = torch.from_numpy(np.array(img, dtype=np.int32 if img.dtype == np.uint16
                                          else np.uint8, order="C")).to(self.device)
        return EnsemblePrepared(views, frame, img.shape[0], img.shape[1], img.dtype,
                                img.shape[2])

    def _check_frame(self, img: np.ndarray, what: str) -> None:
        next(iter(self.members.values()))._check_frame(img, what)

    def _source(self, p: EnsemblePrepared) -> Tensor:
        """The frame as 1 x C x H x W fp32 in [0, 1]."""
        peak = 255.0 if p.dtype == np.uint8 else 65535.0
        return p.frame.permute(2, 0, 1).unsqueeze(0).float().div_(peak)

    # ---- inference -----------------------------------------------------------------------------

    @torch.inference_mode()
    def run(self, p0: EnsemblePrepared, p1: EnsemblePrepared, ts: Sequence[float],
            batch: int = 0) -> list[np.ndarray]:
        """Frames at each time in ``ts`` between two prepared frames (one batch, or chunks)."""
        if (p0.height, p0.width, p0.channels) != (p1.height, p1.width, p1.channels):
            raise InputError(f"frames differ in size or channels: {p0.width}x{p0.height} vs "
                             f"{p1.width}x{p1.height}")
        ts = [check_t(t) for t in ts]
        if self._plain:
            p = self.passes[0]
            key = (p.model, p.scale, "")
            return self.members[(p.model, p.scale)].run(p0.views[key], p1.views[key], ts, batch)
        step = batch or len(ts)
        plan = self.protection(p0, p1) if self.protect_static and ts else None
        out: list[np.ndarray] = []
        for i in range(0, len(ts), step):
            out += self._to_numpy(self.blend(p0, p1, ts[i : i + step], plan), p0)
        return out

    @torch.inference_mode()
    def candidates(self, p0: EnsemblePrepared, p1: EnsemblePrepared, ts: Sequence[float]
                   ) -> tuple[list[Tensor], list[Tensor]]:
        """Each pass's frames (N x C x H x W, fp32 in [0, 1], cropped, unflipped) and motion
        residuals (N x 1 x H x W), in pass order; each pass runs all of ``ts`` as one batch."""
        h, w, n = p0.height, p0.width, len(ts)
        back = [1.0 - t for t in ts]
        frames, residuals = [], []
        for ps in self.passes:
            key = (ps.model, ps.scale, ps.flip)
            q0, q1 = p0.views[key], p1.views[key]
            if ps.reverse:
                q0, q1 = q1, q0
            member = self.members[(ps.model, ps.scale)]
            flow, mask, w0, w1 = member.raw(q0, q1, back if ps.reverse else ts)
            m = torch.sigmoid(mask.float())
            w0, w1 = w0.float(), w1.float()
            frame = torch.lerp(w1, w0, m)
            if q0.alpha is not None:
                a0 = warp(q0.alpha.expand(n, -1, -1, -1), flow[:, :2])
                a1 = warp(q1.alpha.expand(n, -1, -1, -1), flow[:, 2:4])
                frame = torch.cat((frame, torch.lerp(a1, a0, m)), 1)
            res = w0.sub_(w1).abs_().mean(1, keepdim=True)
            frames.append(_unflip(frame[:, :, :h, :w], ps.flip))
            residuals.append(_unflip(res[:, :, :h, :w], ps.flip))
        return frames, residuals

    @torch.inference_mode()
    def combine(self, frames: list[Tensor], residuals: list[Tensor]) -> Tensor:
        """The per-pixel weighted mean of the candidates (see :class:`Weighting`)."""
        if len(frames) == 1:
            return frames[0]
        wt = self.weighting
        if wt.kind == "mean":
            out = frames[0].clone()
            for f in frames[1:]:
                out.add_(f)
            return out.div_(len(frames))
        r = torch.stack([overlays._gauss(x, wt.sigma) for x in residuals])  # K x N x 1 x H x W
        r.sub_(r.min(0).values).div_(-wt.tau).exp_()
        out = torch.zeros_like(frames[0])
        for k, f in enumerate(frames):
            out.addcmul_(f, r[k])
        return out.div_(r.sum(0))

    @torch.inference_mode()
    def blend(self, p0: EnsemblePrepared, p1: EnsemblePrepared, ts: Sequence[float],
              plan: tuple | None = None) -> Tensor:
        """The combined frames (N x C x H x W, fp32 in [0, 1]) before rounding, protection
        included when it is on (with the fill before flow when ``fill_overlays`` is on);
        ``plan``: :meth:`protection` of the pair when the caller already has it."""
        if not self.protect_static:
            return self.combine(*self.candidates(p0, p1, ts))
        q0, q1, s0, s1, weight = plan or self.protection(p0, p1)
        out = self.combine(*self.candidates(q0, q1, ts))
        return overlays.compose(out, s0, s1, ts, weight)

    @torch.inference_mode()
    def protection(self, p0: EnsemblePrepared, p1: EnsemblePrepared) -> tuple:
        """What protection does for a pair, whatever the timesteps: ``(q0, q1, s0, s1,
        weight)``, the pair to run the passes on (filled or ``p0, p1``), the sources (1 x C x
        H x W, fp32) and the composition weight (or None)."""
        s0, s1 = self._source(p0), self._source(p1)
        found = overlays.detect(s0, s1)
        weight = None if found is None else found.weight
        if self.fill_overlays:
            p0, p1, weight = self.filled(p0, p1, s0, s1, found)
        return p0, p1, s0, s1, weight

    @torch.inference_mode()
    def filled(self, p0: EnsemblePrepared, p1: EnsemblePrepared, s0: Tensor, s1: Tensor,
               found: overlays.Detection | None
               ) -> tuple[EnsemblePrepared, EnsemblePrepared, Tensor | None]:
        """The pair to run the passes on and the composition weight: ``p0, p1`` themselves and
        ``found.weight``, or, where :func:`~fluidframes.overlays.fill_mask` finds overlay-like
        static pixels, both frames prepared again with those pixels filled from the picture
        around them (the sources stay in ``frame`` for the composition) and the weight
        extended over every filled pixel."""
        weight = None if found is None else found.weight
        hit = overlays.fill_mask(found)
        if hit is None:
            return p0, p1, weight
        mask, weight = hit
        return self._refill(p0, s0, mask), self._refill(p1, s1, mask), weight

    def _refill(self, p: EnsemblePrepared, src: Tensor, mask: Tensor) -> EnsemblePrepared:
        peak = 255.0 if p.dtype == np.uint8 else 65535.0
        x = overlays.fill(src, mask).mul_(peak).round_().clamp_(0.0, peak)
        img = x[0].permute(1, 2, 0).to(torch.int32).cpu().numpy().astype(p.dtype)
        views = {(m, s, fl): self.members[(m, s)].prepare(_flip_np(img, fl))
                 for m, s, fl in self._views}
        return dataclasses.replace(p, views=views)

    @staticmethod
    def _to_numpy(x: Tensor, p: EnsemblePrepared) -> list[np.ndarray]:
        peak = 255.0 if p.dtype == np.uint8 else 65535.0
        x = x.mul(peak).round_().clamp_(0.0, peak)
        x = x.to(torch.uint8 if p.dtype == np.uint8 else torch.int32)
        arr = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        return [np.ascontiguousarray(a, dtype=p.dtype) for a in arr]

    def clear_cache(self) -> None:
        """Forget the frames remembered by :meth:`interpolate`, here and in the members."""
        super().clear_cache()
        for m in self.members.values():
            m.clear_cache()


def with_overlay_protection(interp: Any) -> Ensemble:
    """A single model with static-overlay protection (:mod:`fluidframes.overlays`): same
    interface, one pass; the same frames wherever the detector finds nothing, else the overlay
    composed from the sources over the model's frame (run on the filled pair where it fills)."""
    key = (interp.info.name, 1.0)
    return Ensemble({key: interp}, passes=(Pass(interp.info.name),), protect_static=True,
                    name=interp.info.name)
