"""The Interpolator: two frames and a time in, the frame at that time out.

Frames travel as HxWxC numpy arrays (C = 3 RGB, or 4 RGBA whose alpha plane is moved by the same
flow and blended by the same mask as the colour), uint8 or uint16. Inside, frames are padded
(edge-replicated) to the multiple the architecture needs at the chosen ``scale`` and cropped back.

``prepare`` turns a frame into a ``Prepared`` tensor bundle once, including the per-frame encoder
features for architectures that have them, so a video pipeline pays for them once per source frame
rather than once per pair or per timestep.

Backends (``backend=``): ``"torch"`` is the fast path of :mod:`fluidframes.backends.torch_fast`
(exact rewrites of the reference maths: warps only at the pixels the next block's bilinear
downscale reads, block-to-block features kept at block resolution, channels_last convolutions,
and with ``precision="bf16"``/``"fp16"`` the convolutions alone in that dtype while flow, warp,
resize and mask stay fp32). ``"eager"`` runs the reference :class:`IFNet` module as written (the
plain research-script computation, and the fallback for ``scale`` 2 or 4). ``"auto"`` picks
``"torch"`` wherever it applies. Measured numbers: benchmarks/README.md.

``precision="auto"`` is fp16 on CUDA, bf16 convolutions on CPUs whose oneDNN has bf16 (they pass
the quality guard: <= 0.02 dB from fp32 on real 720p triplets) and fp32 elsewhere.

``interpolate``/``interpolate_many`` remember the last two frames they prepared (compared by
content), so the natural loop ``interpolate(a, b)``, ``interpolate(b, c)``, ... prepares each frame
once, as the video pipeline does. Several timesteps of one pair run as one batch: measured at
720p, ``--multi 4`` (3 timesteps) batched is 1.6x (rife-4.6) and 2.1x (rife-4.25) faster than
one timestep at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import _allocator
from .backends.torch_fast import FastIFNet, FrameCache, Striped
from .errors import InputError
from .frames import FrameInterpolator, check_t
from .models import registry
from .models.ifnet import warp
from .models.loader import LoadedModel, load_model
from .options import BACKENDS, DEVICES, PRECISIONS, ModelConfig

if TYPE_CHECKING:
    from .ensemble import Ensemble

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ModelInfo:
    name: str  # registry name, or the file name for --model-file
    family: str
    parameters: int
    device: str
    precision: str
    scale: float
    modulo: int  # padding multiple actually used
    backend: str = "eager"  # 'torch' (fast path, fluidframes.backends.torch_fast) or 'eager'
    threads: int | None = None  # torch's CPU threads when it was built (None on GPUs)


@dataclass
class Prepared:
    """One frame made ready for the network (padded, on device, features computed)."""

    rgb: Tensor  # 1 x 3 x H' x W' in [0, 1], model dtype
    alpha: Tensor | None  # 1 x 1 x H' x W' fp32, when the frame had alpha
    feat: Tensor | None
    height: int
    width: int
    dtype: np.dtype
    cache: FrameCache | None = None  # the fast backend's per-frame tensors


def _pick_device(device: str) -> torch.device:
    if device not in DEVICES and not device.startswith("cuda:"):
        raise InputError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device 'cuda' asked for, but PyTorch sees no CUDA GPU (CPU build?)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise InputError("device 'mps' asked for, but it is not available")
    return torch.device(device)


def _pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The convolution dtype. ``auto``: the fastest precision that passes the quality guard on
    this device; ``half``: the device's half precision (what the research scripts' ``--fp16``
    means): fp16 on CUDA/MPS, bf16 on CPUs that have it (fp16 on a CPU is emulated: slow, and
    no more accurate), else fp32."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision}")
    if precision in ("auto", "half"):
        if device.type in ("cuda", "mps") and (precision == "half" or device.type == "cuda"):
            return torch.float16
        if device.type == "cpu" and _cpu_has_bf16():
            # bf16 convolutions (flow, warp, resize and mask stay fp32): 1.2-1.6x faster than
            # fp32 here, within 0.02 dB of it on real footage (benchmarks/README.md).
            return torch.bfloat16
        return torch.float32
    if precision == "fp16" and device.type == "cpu":
        log.warning("fp16 on a CPU is emulated (slow); precision 'half' picks bf16 where the "
                    "CPU has it")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def _cpu_has_bf16() -> bool:
    """bf16 computed natively (avx512_bf16 or AMX). oneDNN also calls bf16 "supported" on plain
    AVX-512, where it is emulated: ~3x slower than fp32 there (benchmarks/README.md)."""
    try:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return bool(native and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_PRECISION_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def _pick_backend(backend: str, scales: Sequence[float]) -> str:
    """'torch' (the fast path) wherever its exact rewrites apply, else 'eager'."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    fast_ok = FastIFNet.supports(scales)
    if backend == "auto":
        return "torch" if fast_ok else "eager"
    if backend == "torch" and not fast_ok:
        raise InputError(f"backend 'torch' needs power-of-two block scales; scale gives {scales}"
                         " (use backend 'eager')")
    return backend


class Interpolator(FrameInterpolator):
    """RIFE frame interpolation on numpy frames.

    >>> it = Interpolator(model="rife-4.25")          # fetches weights on first use
    >>> mid = it.interpolate(img0, img1, t=0.5)       # HxWx3 uint8 in, HxWx3 uint8 out

    The keyword arguments are the fields of :class:`fluidframes.options.ModelConfig` (validated
    there); :meth:`from_config` takes such a config, :meth:`from_module` an already built
    network. All three end in the same set-up.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        model_file: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        scale: float = 1.0,
        threads: int | None = None,
        backend: str = "auto",
    ) -> None:
        config = ModelConfig.from_kwargs(model=model, model_file=model_file, device=device,
                                         precision=precision, scale=scale, threads=threads,
                                         backend=backend)
        self._setup(load_model(config), config)

    @classmethod
    def from_config(cls, config: ModelConfig) -> Interpolator:
        """The ready model a :class:`~fluidframes.options.ModelConfig` describes."""
        config = config.validated()
        self = cls.__new__(cls)
        self._setup(load_model(config), config)
        return self

    @classmethod
    def from_module(cls, net: torch.nn.Module, family: registry.Family, *, name: str = "custom",
                    scale: float = 1.0, device: str = "cpu", backend: str = "auto",
                    precision: str = "fp32", threads: int | None = None) -> Interpolator:
        """Wrap an already built network (tests, custom training code)."""
        config = ModelConfig.from_kwargs(device=device, precision=precision, scale=scale,
                                         backend=backend, threads=threads)
        self = cls.__new__(cls)
        self._setup(LoadedModel(name, family, net), config)
        return self

    def _setup(self, loaded: LoadedModel, config: ModelConfig) -> None:
        self.config = config
        self.device = _pick_device(config.device)
        self.dtype = _pick_dtype(config.precision, self.device)
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        family = self.family = loaded.family
        self.scale = float(config.scale)
        self.scales = [s / self.scale for s in family.variant.base_scales]
        self.modulo = max(family.modulo, int(family.modulo / self.scale))
        self._setup_backend(loaded.net.eval(), config.backend)
        self.info = ModelInfo(
            name=loaded.name,
            family=family.name,
            parameters=loaded.parameters,
            device=str(self.device),
            precision=_PRECISION_NAMES[self.dtype],
            scale=self.scale,
            modulo=self.modulo,
            backend=self.backend,
            threads=torch.get_num_threads() if self.device.type == "cpu" else None,
        )
        log.info("loaded %s (%s) on %s/%s, backend %s", loaded.name, family.name, self.device,
                 self.info.precision, self.backend)

    def _setup_backend(self, net: torch.nn.Module, backend: str) -> None:
        """Choose and build the execution path (see :func:`_pick_backend`)."""
        self.backend = _pick_backend(backend, self.scales)
        if self.device.type == "cpu":
            _allocator.keep_freed_memory()  # 1.1-1.2x: no page faults for temporaries
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes per video: autotune once
        self._fast: FastIFNet | None = None
        if self.backend == "torch":
            # weights stay fp32 in the module; the fast path keeps its own conv copies
            self.net = net.to(self.device, torch.float32)
            self._fast = FastIFNet(self.net, conv_dtype=self.dtype,
                                   channels_last=self.device.type != "mps")
        else:
            self.net = net.to(self.device, self.dtype)

    # ---- frames in and out -------------------------------------------------------------------

    @staticmethod
    def _check_frame(img: np.ndarray, what: str) -> None:
        if not isinstance(img, np.ndarray):
            raise InputError(f"{what} must be a numpy array, got {type(img).__name__}")
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise InputError(f"{what} must be HxWx3 (RGB) or HxWx4 (RGBA), got shape {img.shape}")
        if img.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{what} must be uint8 (or uint16), got {img.dtype}")
        if img.shape[0] < 2 or img.shape[1] < 2:
            raise InputError(f"{what} is too small: {img.shape[1]}x{img.shape[0]}")

    @torch.inference_mode()
    def prepare(self, img: np.ndarray) -> Prepared:
        """Pad, upload and encode one frame; reuse the result for every pair it is part of."""
        self._check_frame(img, "frame")
        h, w = img.shape[:2]
        peak = 255.0 if img.dtype == np.uint8 else 65535.0
        if not img.flags.writeable or not img.flags.c_contiguous:
            img = np.array(img, copy=True, order="C")
        x = torch.from_numpy(img)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)  # async H2D copy
        else:
            x = x.to(self.device)
        x = x.permute(2, 0, 1).unsqueeze(0).float().div_(peak)
        ph = math.ceil(h / self.modulo) * self.modulo
        pw = math.ceil(w / self.modulo) * self.modulo
        if (ph, pw) != (h, w):
            x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        alpha = x[:, 3:4].contiguous() if img.shape[2] == 4 else None
        if self._fast is not None:
            rgb = x[:, :3].contiguous()
            fc = self._fast.frame_cache(rgb, self._fast.features(rgb))
            # rgb and features as views of the warp source: one copy of each per frame
            # (rife-4.25 at 1920x1080: 58 MB per prepared frame less)
            src = fc.src
            feat = src[:, 3:] if src.shape[1] > 3 else None
            return Prepared(src[:, :3], alpha, feat, h, w, img.dtype, fc)
        rgb = x[:, :3].to(self.dtype).contiguous()
        feat = self.net.features(rgb)
        return Prepared(rgb, alpha, feat, h, w, img.dtype)

    def _to_numpy(self, x: Tensor, p: Prepared) -> list[np.ndarray]:
        """Scale, round, clamp and crop ``x`` (in [0, 1]) into HxWxC frames.

        ``x`` is N x C x H' x W', or N x k x C x H'/k x W' for frames kept in ``k`` row stripes
        (:meth:`_blend_striped`). The last step narrows and transposes in one copy straight into
        channels-last integer storage, putting stripes in row order on the way (with the lerp
        blend: 11.0 -> 4.1 ms per 1280x720 frame against float ops, ``to(uint8)`` and a
        permuted ``contiguous``)."""
        peak = 255.0 if p.dtype == np.uint8 else 65535.0
        if x.dim() == 4:
            x = x[:, :, : p.height, : p.width].unsqueeze(1)  # one stripe
        x = x.float().mul(peak).round_().clamp_(0.0, peak)
        n, k, c, hk, w = x.shape
        out = torch.empty((n, k * hk, w, c), dtype=torch.uint8 if p.dtype == np.uint8
                          else torch.int32, device=x.device)
        out.view(n, k, hk, w, c).copy_(x.permute(0, 1, 3, 4, 2))
        arr = out[:, : p.height, : p.width].cpu().numpy()
        return [np.ascontiguousarray(a, dtype=p.dtype) for a in arr]

    # ---- inference -----------------------------------------------------------------------------

    @torch.inference_mode()
    def run(self, p0: Prepared, p1: Prepared, ts: Sequence[float], batch: int = 0) -> list[np.ndarray]:
        """Frames at each time in ``ts`` between two prepared frames (one batch, or chunks)."""
        if (p0.height, p0.width) != (p1.height, p1.width) or (p0.alpha is None) != (p1.alpha is None):
            raise InputError(
                f"frames differ in size or channels: {p0.width}x{p0.height} vs {p1.width}x{p1.height}"
            )
        ts = [check_t(t) for t in ts]
        step = batch or len(ts)
        out: list[np.ndarray] = []
        for i in range(0, len(ts), step):
            out += self._run_batch(p0, p1, ts[i : i + step])
        return out

    def _run_batch(self, p0: Prepared, p1: Prepared, ts: list[float]) -> list[np.ndarray]:
        flow, mask, w0, w1 = self.raw(p0, p1, ts, striped=p0.alpha is None)
        if isinstance(w0, Striped):
            return self._blend_striped(mask, w0, w1, p0)
        return self._blend(flow, mask, w0, w1, p0, p1, len(ts))

    @torch.inference_mode()
    def raw(self, p0: Prepared, p1: Prepared, ts: Sequence[float], striped: bool = False
            ) -> tuple[Tensor, Tensor, Tensor | Striped, Tensor | Striped]:
        """What the network says before the blend, for each time in ``ts`` (one batch): flow
        (N x 4, pixels, t->0 then t->1), mask logit (N x 1) and both warped frames (N x 3), all
        at the padded size. The fast path gives fp32 (the warps as :class:`Striped` when asked
        for), the eager path the model dtype. Used by :meth:`run` and by the ensembles."""
        n = len(ts)
        if self._fast is not None and p0.cache is not None and p1.cache is not None:
            tvec = torch.tensor(list(ts), device=self.device, dtype=torch.float32)
            return self._fast.run(p0.cache, p1.cache, tvec, self.scales, striped)
        _, _, h, w = p0.rgb.shape
        img0 = p0.rgb.expand(n, -1, -1, -1)
        img1 = p1.rgb.expand(n, -1, -1, -1)
        tvec = torch.tensor(list(ts), device=self.device, dtype=self.dtype).view(n, 1, 1, 1)
        timestep = tvec.expand(n, 1, h, w)
        f0 = p0.feat.expand(n, -1, -1, -1) if p0.feat is not None else None
        f1 = p1.feat.expand(n, -1, -1, -1) if p1.feat is not None else None
        return self.net(img0, img1, timestep, self.scales, f0, f1)

    def _blend(self, flow: Tensor, mask: Tensor, w0: Tensor, w1: Tensor, p0: Prepared,
               p1: Prepared, n: int) -> list[np.ndarray]:
        m = torch.sigmoid(mask.float())
        rgb = torch.lerp(w1.float(), w0.float(), m)  # w0 * m + w1 * (1 - m), one pass
        if p0.alpha is not None:
            a0 = warp(p0.alpha.expand(n, -1, -1, -1), flow[:, :2])
            a1 = warp(p1.alpha.expand(n, -1, -1, -1), flow[:, 2:4])
            rgb = torch.cat((rgb, torch.lerp(a1, a0, m)), 1)
        return self._to_numpy(rgb, p0)

    def _blend_striped(self, mask: Tensor, w0: Striped, w1: Striped, p: Prepared
                       ) -> list[np.ndarray]:
        """:meth:`_blend` + :meth:`_to_numpy` on warps kept in row stripes (RGB only): the blend
        runs stripe by stripe and the one copy into the HxWx3 arrays reorders the rows, instead
        of a reordering copy per warp first (2 x ~2 ms per 1280x720 frame)."""
        n, k = w0.n, w0.k
        _, _, hp, wp = mask.shape
        m = torch.sigmoid(mask.float()).reshape(n, 1, k, hp // k, wp).transpose(1, 2)
        return self._to_numpy(torch.lerp(w1.split(), w0.split(), m), p)  # n x k x 3 x H/k x W


def load_interpolator(config: ModelConfig) -> Interpolator | Ensemble:
    """The one way every shell gets a ready model: a config -> a loaded :class:`Interpolator`,
    or for an ensemble's name (``rife-ensemble``, ``rife-ensemble-max``) or ``protect_static``
    an :class:`~fluidframes.ensemble.Ensemble` with the same interface."""
    config = config.validated()
    if config.model_file is None and config.name in registry.ENSEMBLES:
        from .ensemble import Ensemble

        spec = registry.ENSEMBLES[config.name]
        members = {}
        for p in spec.passes:  # each zoo model (at each scale) loaded once
            key = (p.model, p.scale)
            if key not in members:
                scale = max(0.25, config.scale * p.scale)  # the smallest flow scale there is
                members[key] = Interpolator.from_config(dataclasses.replace(
                    config, model=p.model, scale=scale, quality=None, protect_static=False))
        return Ensemble(members, spec, protect_static=config.protect_static)  # None: spec's
    interp = Interpolator.from_config(config)
    if config.protect_static:
        from .ensemble import with_overlay_protection

        return with_overlay_protection(interp)
    return interp
