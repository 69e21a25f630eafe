"""IFNet, the flow network of Practical-RIFE v4.x, written from its published layer layout.

Every v4 variant is a coarse-to-fine stack of ``IFBlock``s. Block *i* looks at the two frames
(warped by the flow so far), downscaled by ``scales[i]``, and predicts a flow update (4 channels:
flow t->0 and flow t->1), a blend-mask logit and, from v4.25 on, 8 channels of hidden features
passed to the next block. The variants differ in a handful of facts, collected in ``Variant``:

=========  ======  ======================  ==========  ====  ================  ======
variant    blocks  widths                  head (enc)  feat  mask              pad to
=========  ======  ======================  ==========  ====  ================  ======
v4.6       4       192, 128, 96, 64        no          0     accumulated       32
v4.25      5       192, 128, 96, 64, 32    4 ch        8     replaced          64
=========  ======  ======================  ==========  ====  ================  ======

(v4.26 shares v4.25's layout and loads as that variant.)

The network here stops at the flow and the mask: ``forward`` returns them together with the two
warped frames, and the engine does the final blend. That lets the engine move an alpha plane with
exactly the same motion, and lets the per-frame encoder ("Head") run once per source frame
instead of once per pair (:meth:`IFNet.features`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Variant:
    name: str
    widths: tuple[int, ...]  # channels of each block's trunk
    head_channels: int  # channels of the per-frame feature encoder's output, 0 = no encoder
    feat_channels: int  # hidden feature channels passed from block to block
    mask_residual: bool  # True: mask += update (v4.6); False: mask = new (v4.25)
    out_channels: int  # channels after the last conv's pixel shuffle (v4.6 has one spare)
    base_scales: tuple[float, ...]  # downscale factor of each block at scale=1
    modulo: int  # input sides must be multiples of this at scale=1

    def in_planes(self, block: int) -> int:
        """Input channels of a block, flow included (the trunk sees flow as 4 more channels)."""
        images = 3 + 3 + 1  # img0, img1, timestep
        feats = 2 * self.head_channels
        if block == 0:
            return images + feats
        return images + feats + 1 + self.feat_channels + 4  # + mask + hidden feat + flow


V4_6 = Variant("rife-v4.6", (192, 128, 96, 64), 0, 0, True, 6, (8, 4, 2, 1), 32)
V4_25 = Variant("rife-v4.25", (192, 128, 96, 64, 32), 4, 8, False, 13, (16, 8, 4, 2, 1), 64)
VARIANTS: dict[str, Variant] = {v.name: v for v in (V4_6, V4_25)}


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class ResConv(nn.Module):
    """3x3 conv with a learned per-channel gain on the residual branch."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    def __init__(self, in_planes: int, c: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv(in_planes, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*[ResConv(c) for _ in range(8)])
        self.lastconv = nn.Sequential(
            nn.ConvTranspose2d(c, 4 * out_channels, 4, 2, 1), nn.PixelShuffle(2)
        )

    def forward(self, x: Tensor, flow: Tensor | None, scale: float) -> Tensor:
        if scale != 1:
            x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            if scale != 1:
                flow = F.interpolate(
                    flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False
                ) / scale
            x = torch.cat((x, flow), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        if scale != 1:
            out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        # channels: flow (4, in pixels of this block's resolution -> rescale), mask, features
        return torch.cat((out[:, :4] * scale, out[:, 4:]), 1)


class Head(nn.Module):
    """Per-frame feature encoder of v4.25 (half-resolution convs, transposed back up)."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, out_channels, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


class _GridCache:
    """Base sampling grids for ``grid_sample``, built once per (size, device)."""

    def __init__(self) -> None:
        self._grids: dict[tuple, Tensor] = {}

    def get(self, h: int, w: int, device: torch.device) -> Tensor:
        key = (h, w, device)
        grid = self._grids.get(key)
        if grid is None:
            ys = torch.linspace(-1.0, 1.0, h, device=device)
            xs = torch.linspace(-1.0, 1.0, w, device=device)
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack((gx, gy), -1).unsqueeze(0)  # 1 x H x W x 2
            if len(self._grids) > 8:
                self._grids.clear()
            self._grids[key] = grid
        return grid


_grids = _GridCache()


def warp(img: Tensor, flow: Tensor) -> Tensor:
    """Backward-warp ``img`` by ``flow`` (pixels, x then y), bilinear, edges clamped.

    Always computed in fp32: in half precision flow coordinates lose whole pixels.
    """
    n, _, h, w = img.shape
    dtype = img.dtype
    flow = flow.float()
    norm = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow.device)
    grid = _grids.get(h, w, flow.device) + flow.permute(0, 2, 3, 1) * norm
    out = F.grid_sample(
        img.float(), grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    return out.to(dtype)


class IFNet(nn.Module):
    """The flow network of one v4 variant; see the module docstring."""

    def __init__(self, variant: Variant) -> None:
        super().__init__()
        self.variant = variant
        for i, c in enumerate(variant.widths):
            self.add_module(f"block{i}", IFBlock(variant.in_planes(i), c, variant.out_channels))
        self.encode = Head(variant.head_channels) if variant.head_channels else None

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.variant.widths))]

    def features(self, img: Tensor) -> Tensor | None:
        """Per-frame features (v4.25's Head); None for variants without an encoder."""
        return self.encode(img) if self.encode is not None else None

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        timestep: Tensor,
        scales: Sequence[float],
        f0: Tensor | None = None,
        f1: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Flow, mask logit and both warped frames for time ``timestep`` (N x 1 x H x W).

        ``img0``/``img1`` are N x 3 x H x W in [0, 1] with H and W multiples of the variant's
        padding at the chosen scale; ``f0``/``f1`` come from ``features`` when the variant has
        an encoder.
        """
        v = self.variant
        flow = mask = feat = None
        w0, w1 = img0, img1
        for i, block in enumerate(self.blocks):
            if flow is None:
                parts = [img0, img1] + ([f0, f1] if v.head_channels else []) + [timestep]
                out = block(torch.cat(parts, 1), None, scales[i])
                flow, mask = out[:, :4], out[:, 4:5]
            else:
                parts = [w0, w1]
                if v.head_channels:
                    parts += [warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])]
                parts += [timestep, mask]
                if v.feat_channels:
                    parts.append(feat)
                out = block(torch.cat(parts, 1), flow, scales[i])
                flow = flow + out[:, :4]
                mask = mask + out[:, 4:5] if v.mask_residual else out[:, 4:5]
            feat = out[:, 5 : 5 + v.feat_channels]
            w0 = warp(img0, flow[:, :2])
            w1 = warp(img1, flow[:, 2:4])
        return flow, mask, w0, w1


# ---- detection: which variant does a state dict belong to? ----------------------------------

def _shape(sd: Mapping[str, Tensor], key: str) -> tuple[int, ...] | None:
    t = sd.get(key)
    return tuple(t.shape) if t is not None else None


def expected_shapes(variant: Variant) -> dict[str, tuple[int, ...]]:
    """The key -> shape table a state dict of this variant must have (the detection contract)."""
    return {k: tuple(t.shape) for k, t in IFNet(variant).state_dict().items()}


def detect(sd: Mapping[str, Tensor]) -> Variant | None:
    """The variant whose layer layout the state dict has, by explicit key/shape conditions."""
    n_blocks = sum(1 for i in range(8) if f"block{i}.conv0.0.0.weight" in sd)
    has_head = "encode.cnn0.weight" in sd
    for v in VARIANTS.values():
        if n_blocks != len(v.widths) or has_head != bool(v.head_channels):
            continue
        if _shape(sd, "block0.conv0.0.0.weight") != (v.widths[0] // 2, v.in_planes(0), 3, 3):
            continue
        if _shape(sd, "block0.lastconv.0.weight") != (v.widths[0], 4 * v.out_channels, 4, 4):
            continue
        last = len(v.widths) - 1
        if _shape(sd, f"block{last}.conv0.1.0.weight") != (v.widths[last], v.widths[last] // 2, 3, 3):
            continue
        if has_head and _shape(sd, "encode.cnn3.weight") != (16, v.head_channels, 4, 4):
            continue
        return v
    return None
