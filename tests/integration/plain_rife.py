"""A deliberately plain fp32 forward pass of RIFE v4.25, straight from the state dict.

No modules, no caching, no batching: each layer is one functional call on the raw tensors.
It exists only to check that the product's engine computes the same thing.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _conv(sd, name, x, stride=1):
    return F.conv2d(x, sd[name + ".weight"], sd[name + ".bias"], stride=stride, padding=1)


def _lrelu(x):
    return F.leaky_relu(x, 0.2)


def _block(sd, b, x, flow, scale):
    x = F.interpolate(x, scale_factor=1 / scale, mode="bilinear", align_corners=False)
    if flow is not None:
        f = F.interpolate(flow, scale_factor=1 / scale, mode="bilinear", align_corners=False)
        x = torch.cat([x, f / scale], 1)
    x = _lrelu(_conv(sd, f"{b}.conv0.0.0", x, 2))
    x = _lrelu(_conv(sd, f"{b}.conv0.1.0", x, 2))
    for i in range(8):
        p = f"{b}.convblock.{i}"
        x = _lrelu(_conv(sd, p + ".conv", x) * sd[p + ".beta"] + x)
    x = F.conv_transpose2d(x, sd[f"{b}.lastconv.0.weight"], sd[f"{b}.lastconv.0.bias"], 2, 1)
    x = F.pixel_shuffle(x, 2)
    x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return x[:, :4] * scale, x[:, 4:5], x[:, 5:]


def _head(sd, x):
    x = _lrelu(_conv(sd, "encode.cnn0", x, 2))
    x = _lrelu(_conv(sd, "encode.cnn1", x))
    x = _lrelu(_conv(sd, "encode.cnn2", x))
    return F.conv_transpose2d(x, sd["encode.cnn3.weight"], sd["encode.cnn3.bias"], 2, 1)


def _warp(img, flow):
    _, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    gx = xs + flow[:, 0] / ((w - 1) / 2)
    gy = ys + flow[:, 1] / ((h - 1) / 2)
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def rife425(sd: dict, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    h, w = a.shape[:2]
    ph, pw = math.ceil(h / 64) * 64, math.ceil(w / 64) * 64

    def load(img):
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
        return F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")

    with torch.no_grad():
        img0, img1 = load(a), load(b)
        f0, f1 = _head(sd, img0), _head(sd, img1)
        ts = torch.full((1, 1, ph, pw), t)
        flow, mask, feat = _block(sd, "block0", torch.cat([img0, img1, f0, f1, ts], 1), None, 16)
        w0, w1 = _warp(img0, flow[:, :2]), _warp(img1, flow[:, 2:4])
        for i, s in zip(range(1, 5), (8, 4, 2, 1)):
            wf0, wf1 = _warp(f0, flow[:, :2]), _warp(f1, flow[:, 2:4])
            x = torch.cat([w0, w1, wf0, wf1, ts, mask, feat], 1)
            d, mask, feat = _block(sd, f"block{i}", x, flow, s)
            flow = flow + d
            w0, w1 = _warp(img0, flow[:, :2]), _warp(img1, flow[:, 2:4])
        m = torch.sigmoid(mask)
        out = w0 * m + w1 * (1 - m)
    out = out[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy()
    return np.rint(out * 255).astype(np.uint8)
