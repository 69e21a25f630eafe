"""The fast PyTorch path: IFNet computed at each block's own resolution, convolutions on oneDNN.

Same maths as :class:`fluidframes.models.ifnet.IFNet` (the reference, kept as it is), reorganised
so that the memory-bound work shrinks. Measured on the 2-core AVX-512 CPU this project develops on
(1280x720, one timestep; see ``benchmarks/`` and docs/ARCHITECTURE.md), the reference forward of
rife-4.25 spends ~40 % of its time in convolutions and ~60 % in full-resolution ``cat``, resize,
``add``/``mul`` and ``grid_sample`` passes. Three exact rewrites remove most of the latter:

1. **Sample-point warping.** Block *k+1* at downscale ``s`` only ever sees
   ``bilinear_down_s(warp(img, flow))``. Bilinear downscaling by an even integer ``s`` with
   ``align_corners=False`` reads exactly two neighbouring pixels per axis (offsets ``s/2-1`` and
   ``s/2`` of each ``s``-cell) with weights 1/2, so only those 4 pixels per output pixel need to be
   warped: ``grid_sample`` runs on ``4/s**2`` of the frame, followed by a 2x2 mean. For ``s = 16``
   that is 1/64 of the work, and the 24-channel full-resolution ``cat`` disappears.
2. **Resize composition.** ``down_s(up_{2s}(x)) == up_2(x)`` exactly for bilinear
   ``align_corners=False`` (the two sample points lie in the same linear piece), so the hidden
   features passed from block to block never leave block resolution. Only flow and mask (5
   channels) are kept at full resolution, because the output needs them there.
3. **Folded residual gain.** ``conv(x) * beta`` is a conv with ``weight * beta`` and
   ``bias * beta``; the residual add and LeakyReLU then run in place.

Independently of those, the convolutions run in ``channels_last`` (oneDNN's native layout, 2x
faster than NCHW for these shapes here) and optionally in bf16 (fp16 on CUDA): only the
convolution trunk of each block and the per-frame encoder change dtype; flow accumulation,
resizes, warps and the mask stay fp32, because flows in bf16 lose whole pixels.

Further speed-ups, each exact or within the bf16 rules above: the trunk calls oneDNN's fused
conv+LeakyReLU / conv+add primitives (:meth:`FastIFNet._trunk`), block inputs are packed by one
``copy_`` per part into the conv-dtype buffer (:meth:`FastIFNet._pack`), ``grid_sample`` runs in
row stripes of the batch dimension (:meth:`FastIFNet._sample`; the CPU kernel parallelises over
the batch only) and full-resolution warps stay in those stripes (:class:`Striped`), flow
upsampling runs on NCHW, and each block's transposed last conv is one four-phase 2x2 conv
(:func:`_phase_weights`, :func:`_assemble`). What each was worth, and what was tried and lost,
is in benchmarks/README.md ("The fast path's history").

Scales that are not integer powers of two (``scale=2`` or ``4`` on the Interpolator, which
upsamples inside the net) fall back to the reference forward.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.ifnet import IFNet

log = logging.getLogger(__name__)

_LRELU = 0.2


@dataclass
class _Conv:
    weight: Tensor
    bias: Tensor
    stride: int = 1


@dataclass
class _Block:
    conv0: list[_Conv]
    res: list[_Conv]
    last: _Conv  # the transposed conv as a 2x2 conv with four output phases, see _phase_weights


@dataclass
class FrameCache:
    """Per-frame tensors the fast path reuses across every pair and timestep of that frame.

    ``src`` is the frame with its encoder features stacked on (1 x (3+F) x H x W, fp32), the one
    tensor every warp samples; ``down`` holds its bilinear downscales, keyed by factor.
    """

    src: Tensor
    down: dict[int, Tensor] = field(default_factory=dict)


@dataclass
class Striped:
    """A sampled frame kept as the row stripes :meth:`FastIFNet._sample` computed it in.

    ``data`` is ``(n * k) x C x (H / k) x W``: stripe ``j`` of sample ``i`` at ``i * k + j``.
    Consumers that copy anyway (the block packing, the engine's output conversion) read it in
    this layout, which saves putting the rows back in order first (one full pass per warp).
    """

    data: Tensor
    n: int
    k: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        _, c, hk, w = self.data.shape
        return (self.n, c, self.k * hk, w)

    def channels(self, a: int, b: int | None = None) -> Striped:
        return Striped(self.data[:, a:b], self.n, self.k)

    def split(self) -> Tensor:
        """``n x k x C x (H / k) x W``: the stripes as a view."""
        _, c, hk, w = self.data.shape
        return self.data.view(self.n, self.k, c, hk, w)

    def into(self, dst: Tensor) -> None:
        """Copy into ``dst`` (``n x C x H x W``, any strides) in one pass."""
        n, c, h, w = dst.shape
        dst.view(n, c, self.k, h // self.k, w).copy_(self.split().transpose(1, 2))

    def whole(self) -> Tensor:
        """The frame in plain row order (a copy)."""
        out = torch.empty(self.shape, dtype=self.data.dtype, device=self.data.device)
        self.into(out)
        return out


def _is_pow2(s: float) -> bool:
    return s >= 1 and float(s).is_integer() and (int(s) & (int(s) - 1)) == 0


def _cells(x: Tensor, s: int) -> Tensor:
    """The 2x2 pixels of every ``s``-cell that bilinear ``1/s`` downscaling reads (``s`` even).

    Returns N x C x 2H/s x 2W/s, each 2x2 tile being one cell's sample points.
    """
    if s == 2:
        return x
    n, c, h, w = x.shape
    a = s // 2 - 1
    v = x.view(n, c, h // s, s, w // s, s)[:, :, :, a : a + 2, :, a : a + 2]
    return v.reshape(n, c, 2 * (h // s), 2 * (w // s))


def _down(x: Tensor, s: int) -> Tensor:
    """Exactly ``F.interpolate(x, scale_factor=1/s, mode='bilinear')`` for integer ``s``."""
    if s == 1:
        return x
    return F.avg_pool2d(_cells(x, s), 2)


def _phase_weights(wt: Tensor) -> Tensor:
    """The stride-2, 4x4, padding-1 transposed conv (weight ``Cin x 4K x 4 x 4``, followed by
    ``pixel_shuffle(2)``) as one 2x2 conv with padding 1.

    Output row ``2y + i`` of the transposed conv reads input rows ``y - 1 + i`` and ``y + i``
    with kernel rows ``3 - i - 2a`` (``a`` = 0, 1), and the same for columns; a 2x2 conv
    evaluated at ``(y + i, x + j)`` reads exactly those rows. So one conv with ``16 K`` output
    channels holds every output pixel: phase ``(i, j)`` in channel block ``2i + j``, each phase
    at a one-pixel offset (see :func:`_assemble`). Inside a block the channels are ordered
    ``(i2, j2, c)``, where the pixel shuffle takes transposed-conv channel ``4c + 2 i2 + j2`` to
    output channel ``c`` at offset ``(i2, j2)``: every output pixel's ``K`` channels are then
    contiguous in the channels_last result. Same multiply-adds as the transposed conv; oneDNN
    runs it 1.6-1.8x faster than its deconvolution here (64 -> 20 channels at 320x184, bf16:
    6.0 vs 11.0 ms).
    """
    cin, c4 = wt.shape[:2]
    k = c4 // 4
    w2 = wt.new_empty((2, 2, 2, 2, k, cin, 2, 2))  # i, j, i2, j2, c, cin, a, b
    for i in range(2):
        for j in range(2):
            for a in range(2):
                for b in range(2):
                    tap = wt[:, :, 3 - i - 2 * a, 3 - j - 2 * b]  # cin x 4K
                    w2[i, j, :, :, :, :, a, b] = tap.t().reshape(k, 2, 2, cin).permute(1, 2, 0, 3)
    return w2.reshape(16 * k, cin, 2, 2)


def _assemble(z: Tensor) -> Tensor:
    """The block output (fp32, ``n x K x 4h x 4w``, channels_last strides) from the phase conv
    output ``z`` (``n x 16K x (h+1) x (w+1)``, channels_last, see :func:`_phase_weights`).

    Four copies, one per phase, each moving ``2K`` contiguous values per step (measured at
    1280x720's last block, 5 channels: 5.4 ms against 8.0 for cast + ``pixel_shuffle``, and
    17 ms for the same copies into NCHW, whose innermost run is 2 values long).
    """
    n, c16, h1, w1 = z.shape
    k, h, w = c16 // 16, h1 - 1, w1 - 1
    o = torch.empty((n, 4 * h, 4 * w, k), device=z.device)  # NHWC storage
    o7 = o.view(n, h, 2, 2, w, 2, 2 * k)  # y, i, i2, x, j, (j2, c)
    for i in range(2):
        for j in range(2):
            p = 2 * i + j
            zp = z[:, p * 4 * k : (p + 1) * 4 * k, i : i + h, j : j + w]
            zp = zp.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2 * k)  # y, x, i2, (j2, c)
            o7[:, :, i, :, :, j, :].copy_(zp.permute(0, 1, 3, 2, 4))
    return o.permute(0, 3, 1, 2)


class _PointGrids:
    """Normalised ``grid_sample`` coordinates of the sample points, per (H, W, s, device)."""

    def __init__(self) -> None:
        self._grids: dict[tuple, Tensor] = {}

    def get(self, h: int, w: int, s: int, device: torch.device) -> Tensor:
        key = (h, w, s, device)
        g = self._grids.get(key)
        if g is None:
            ys = torch.arange(h, device=device, dtype=torch.float32) * (2.0 / max(h - 1, 1)) - 1.0
            xs = torch.arange(w, device=device, dtype=torch.float32) * (2.0 / max(w - 1, 1)) - 1.0
            if s > 1:
                ys = _cells(ys.view(1, 1, h, 1).expand(1, 1, h, s), s)[0, 0, :, 0]
                xs = _cells(xs.view(1, 1, 1, w).expand(1, 1, s, w), s)[0, 0, 0, :]
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            g = torch.stack((gx, gy), -1).unsqueeze(0).contiguous()
            if len(self._grids) > 16:
                self._grids.clear()
            self._grids[key] = g
        return g


class FastIFNet:
    """Runs a loaded :class:`IFNet` the fast way; see the module docstring.

    ``conv_dtype`` is the dtype of the convolutions only (fp32, bf16 or fp16).
    """

    def __init__(self, net: IFNet, conv_dtype: torch.dtype = torch.float32,
                 channels_last: bool = True, fp32_last: bool = False) -> None:
        self.variant = net.variant
        self.conv_dtype = conv_dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.fp32_last = fp32_last
        self.fused = True  # oneDNN conv+LeakyReLU / conv+add fusion in _trunk
        self.threads = 0  # grid_sample stripes (see _sample); 0: torch.get_num_threads()
        p = next(net.parameters())
        self.device = p.device
        self._grids = _PointGrids()
        with torch.no_grad():
            nb = len(net.blocks)
            # the last block's hidden features are never read: it only needs flow + mask
            self.blocks = [self._fold_block(b, 5 if i == nb - 1 else 5 + self.variant.feat_channels)
                           for i, b in enumerate(net.blocks)]
            self.head = None
            if net.encode is not None:
                e = net.encode
                self.head = [self._conv(e.cnn0, 2), self._conv(e.cnn1), self._conv(e.cnn2),
                             self._conv(e.cnn3, 2)]

    # ---- weights --------------------------------------------------------------------------------
    def _w(self, t: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        t = t.detach().to(self.device, torch.float32).clone()
        t = t.to(dtype or self.conv_dtype)
        return t.contiguous(memory_format=self.memory_format) if t.dim() == 4 else t.contiguous()

    def _conv(self, m: torch.nn.Module, stride: int = 1, gain: Tensor | None = None,
              dtype: torch.dtype | None = None) -> _Conv:
        w, b = m.weight.detach().float(), m.bias.detach().float()
        if gain is not None:  # conv(x) * beta == conv'(x) with per-output-channel scaled weights
            g = gain.detach().float().reshape(-1)
            w = w * g.view(-1, 1, 1, 1)
            b = b * g
        return _Conv(self._w(w, dtype), self._w(b, dtype), stride)

    def _fold_block(self, blk, keep: int) -> _Block:
        conv0 = [self._conv(blk.conv0[0][0], 2), self._conv(blk.conv0[1][0], 2)]
        res = [self._conv(r.conv, 1, r.beta) for r in blk.convblock]
        last_dtype = torch.float32 if self.fp32_last else None
        m = blk.lastconv[0]
        # pixel_shuffle(2) makes output channel c from conv channels 4c..4c+3: computing only
        # the first 4*keep conv channels is exact and skips the unused ones (v4.25's last
        # block: 20 of 52 channels at full resolution)
        wt, bt = m.weight.detach().float()[:, : 4 * keep], m.bias.detach().float()[: 4 * keep]
        last = _Conv(self._w(_phase_weights(wt), last_dtype),
                     self._w(bt.view(keep, 2, 2).permute(1, 2, 0).reshape(-1).repeat(4),
                             last_dtype), 1)
        return _Block(conv0, res, last)

    # ---- convolution trunk --------------------------------------------------------------------
    def _trunk(self, b: _Block, parts: list[Tensor]) -> Tensor:
        """The block's convolutions on ``parts``: fp32 output at block resolution, in
        channels_last strides."""
        return _assemble(self._trunk_raw(b, parts))

    def _trunk_raw(self, b: _Block, parts: list[Tensor]) -> Tensor:
        """The block's convolutions, the last one as four phases (see :func:`_phase_weights`)."""
        x = self._pack(parts)
        if self.fused and x.device.type == "cpu":
            mk = torch.ops.mkldnn
            for c in b.conv0:
                x = mk._convolution_pointwise(x, c.weight, c.bias, [1, 1], [c.stride] * 2, [1, 1],
                                              1, "leaky_relu", [_LRELU], "")
            for c in b.res:
                y = mk._convolution_pointwise.binary(x, x, c.weight, c.bias, [1, 1], [1, 1],
                                                     [1, 1], 1, "add", None, None, [], None)
                x = F.leaky_relu_(y, _LRELU)
        else:
            for c in b.conv0:
                x = F.leaky_relu_(F.conv2d(x, c.weight, c.bias, c.stride, 1), _LRELU)
            for c in b.res:
                y = F.conv2d(x, c.weight, c.bias, 1, 1)
                x = F.leaky_relu_(y.add_(x), _LRELU)
        if self.fp32_last:
            x = x.float()
        return F.conv2d(x, b.last.weight, b.last.bias, 1, 1)

    def _pack(self, parts: list[Tensor]) -> Tensor:
        """Concatenate ``parts`` (fp32, any layout) into one conv-dtype, conv-layout tensor.

        Measured at 1280x720 (28 channels, 2 threads): ``torch.cat(out=channels_last fp32)``
        then ``.to(bf16)`` 466 ms, ``cat(out=channels_last bf16)`` 421 ms, cat NCHW then one
        ``.to(bf16, channels_last)`` 558 ms, one ``copy_`` per part into a channels_last bf16
        buffer 228 ms (row-tiled copies were 3-25x slower still). The last wins: each part is
        converted and transposed in a single pass.
        """
        n, _, h, w = parts[0].shape
        c = sum(p.shape[1] for p in parts)
        dev = next(p.device for p in parts if isinstance(p, Tensor))
        x = torch.empty((n, c, h, w), device=dev, dtype=self.conv_dtype,
                        memory_format=self.memory_format)
        i = 0
        for p in parts:
            k = p.shape[1]
            if isinstance(p, Striped):
                p.into(x[:, i : i + k])
            else:
                x[:, i : i + k].copy_(p)
            i += k
        return x

    def features(self, img: Tensor) -> Tensor | None:
        """v4.25's per-frame encoder (fp32 out); None for variants without one."""
        if self.head is None:
            return None
        c0, c1, c2, c3 = self.head
        x = img.to(self.conv_dtype).contiguous(memory_format=self.memory_format)
        x = F.leaky_relu_(F.conv2d(x, c0.weight, c0.bias, 2, 1), _LRELU)
        x = F.leaky_relu_(F.conv2d(x, c1.weight, c1.bias, 1, 1), _LRELU)
        x = F.leaky_relu_(F.conv2d(x, c2.weight, c2.bias, 1, 1), _LRELU)
        x = F.conv_transpose2d(x, c3.weight, c3.bias, 2, 1)
        return x.float().contiguous()

    # ---- per-frame cache ----------------------------------------------------------------------
    def frame_cache(self, img: Tensor, feat: Tensor | None) -> FrameCache:
        """Stack a (padded, fp32, 1x3xHxW) frame with its features for warping."""
        img = img.float()
        src = torch.cat((img, feat.float()), 1) if feat is not None else img.contiguous()
        return FrameCache(src)

    @staticmethod
    def _down_cached(fc: FrameCache, s: int) -> Tensor:
        d = fc.down.get(s)
        if d is None:
            d = fc.down[s] = _down(fc.src, s)
        return d

    @staticmethod
    def supports(scales: Sequence[float]) -> bool:
        """True when every block scale is a power of two >= 1 and each halves or keeps the last."""
        return all(_is_pow2(x) for x in scales) and all(
            _is_pow2(a / b) for a, b in itertools.pairwise(scales))

    # ---- forward ----------------------------------------------------------------------------------
    def _sample(self, src: Tensor, grid: Tensor, pool: bool, striped: bool = False
                ) -> Tensor | Striped:
        """``grid_sample(src, grid)`` (bilinear, border, align_corners), then a 2x2 mean if ``pool``.

        PyTorch's CPU ``grid_sample`` parallelises over the batch only, so one frame runs on one
        thread whatever ``torch.get_num_threads()`` says. Splitting the output rows into
        ``k`` batch entries (the source expanded, no copy) gives every thread a stripe: measured
        at 1280x720 with 2 threads, 3 channels, 11.6 -> 4.8 ms, bit-identical. The stripes are
        pooled where they are; with ``striped`` they are returned as they are (:class:`Striped`),
        else put back in order by one copy.
        """
        n, ho, wo, _ = grid.shape
        k = self._stripes(ho, pool) if grid.device.type == "cpu" else 1
        out = F.grid_sample(src.expand(n * k, -1, -1, -1), grid.reshape(n * k, ho // k, wo, 2),
                            mode="bilinear", padding_mode="border", align_corners=True)
        if pool:
            out = F.avg_pool2d(out, 2)
        if striped:
            return Striped(out, n, k)
        if k == 1:
            return out
        return Striped(out, n, k).whole()

    def _stripes(self, rows: int, pool: bool) -> int:
        """How many row stripes to split one sampled frame into (divides ``rows``, even stripes
        when they are pooled)."""
        want = min(self.threads or torch.get_num_threads(), 64)
        unit = 2 if pool else 1
        for k in range(want, 1, -1):
            if rows % (k * unit) == 0 and rows // k >= 8:
                return k
        return 1

    def _grid(self, flow_pts: Tensor, h: int, w: int, s: int) -> Tensor:
        """Sampling grid: the sample points' base coordinates plus the flow, normalised."""
        norm = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow_pts.device)
        base = self._grids.get(h, w, s, flow_pts.device)
        return torch.addcmul(base, flow_pts.permute(0, 2, 3, 1), norm)

    def _warp_points(self, fc: FrameCache, flow_pts: Tensor, s: int, n: int,
                     striped: bool = False) -> Tensor | Striped:
        """``down_s(warp(src, flow))`` from the flow at the sample points only."""
        _, _, h, w = fc.src.shape
        return self._sample(fc.src, self._grid(flow_pts, h, w, s), pool=s > 1, striped=striped)

    def run(self, fc0: FrameCache, fc1: FrameCache, ts: Tensor, scales: Sequence[float],
            striped: bool = False) -> tuple[Tensor, Tensor, Tensor | Striped, Tensor | Striped]:
        """Flow, mask logit and both warped frames (full resolution, fp32) for times ``ts`` (N);
        with ``striped`` the warped frames come as :class:`Striped` (see the engine's blend)."""
        v = self.variant
        n = ts.shape[0]
        _, _, h, w = fc0.src.shape
        tcol = ts.float().view(n, 1, 1, 1)
        hc = v.head_channels
        fm: Tensor | None = None  # flow (4) + mask (1) at full resolution
        feat: Tensor | None = None  # hidden features at the previous block's resolution
        prev_s = 0
        last = len(self.blocks) - 1
        for i, (blk, sf) in enumerate(zip(self.blocks, scales)):
            s = int(sf)
            bh, bw = h // s, w // s
            t = tcol.expand(n, 1, bh, bw)
            if fm is None:
                d0 = self._down_cached(fc0, s).expand(n, -1, -1, -1)
                d1 = self._down_cached(fc1, s).expand(n, -1, -1, -1)
                parts = [d0[:, :3], d1[:, :3]]
                if hc:
                    parts += [d0[:, 3:], d1[:, 3:]]
                parts.append(t)
            else:
                pts = _cells(fm, s) if s > 1 else fm
                # full resolution: the packing reads the warps in their stripes
                g0 = self._warp_points(fc0, pts[:, 0:2], s, n, striped=s == 1)
                g1 = self._warp_points(fc1, pts[:, 2:4], s, n, striped=s == 1)
                fms = F.avg_pool2d(pts, 2) if s > 1 else fm
                cut = (lambda g, a, b: g.channels(a, b)) if s == 1 else (lambda g, a, b: g[:, a:b])
                parts = [cut(g0, 0, 3), cut(g1, 0, 3)]
                if hc:
                    parts += [cut(g0, 3, None), cut(g1, 3, None)]
                parts += [t, fms[:, 4:5]]
                if v.feat_channels:
                    r = prev_s // s
                    # NCHW before resizing (see the flow upsampling below)
                    parts.append(feat if r == 1 else F.interpolate(
                        feat.contiguous(), scale_factor=float(r), mode="bilinear",
                        align_corners=False))
                parts.append(fms[:, :4] / s if s != 1 else fms[:, :4])
            out = self._trunk(blk, parts)
            if v.feat_channels and i != last:  # the last block outputs flow and mask only
                feat = out[:, 5 : 5 + v.feat_channels]
            upd = out[:, :5]
            if s != 1:
                # NCHW: PyTorch's channels_last bilinear upsampling runs on one thread (7.0 vs
                # 3.7 ms for 5 channels to 1280x720 on 2 threads)
                upd = F.interpolate(upd.contiguous(), scale_factor=float(s), mode="bilinear",
                                    align_corners=False)
            if fm is None:
                fm = upd.contiguous()
                fm[:, :4] *= s
            else:
                self._accumulate(fm, upd, v.mask_residual, s)
            prev_s = s
        assert fm is not None
        flow = fm[:, :4]
        w0 = self._sample(fc0.src[:, :3], self._grid(flow[:, :2], h, w, 1), False, striped)
        w1 = self._sample(fc1.src[:, :3], self._grid(flow[:, 2:4], h, w, 1), False, striped)
        return flow, fm[:, 4:5], w0, w1

    @staticmethod
    def _accumulate(fm: Tensor, upd: Tensor, mask_residual: bool, s: int) -> None:
        """``fm`` (flow + mask, full resolution) updated by a block's full-resolution output
        ``upd``: flow added (in pixels: times ``s``), mask added or replaced."""
        if mask_residual and s == 1:
            fm.add_(upd)  # one pass for all five channels
        elif mask_residual:
            fm[:, :4].add_(upd[:, :4], alpha=s)
            fm[:, 4:5].add_(upd[:, 4:5])
        else:
            fm[:, :4].add_(upd[:, :4], alpha=s)
            fm[:, 4:5].copy_(upd[:, 4:5])

    def forward(self, img0: Tensor, img1: Tensor, timestep: Tensor, scales: Sequence[float],
                f0: Tensor | None = None, f1: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """:meth:`IFNet.forward`'s contract (timestep constant per sample), without caches."""
        fc0 = self.frame_cache(img0[:1], f0[:1] if f0 is not None else None)
        fc1 = self.frame_cache(img1[:1], f1[:1] if f1 is not None else None)
        ts = timestep[:, 0, 0, 0]
        return self.run(fc0, fc1, ts, scales)

    __call__ = forward
