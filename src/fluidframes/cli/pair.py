"""``fluidframes pair IMG0 IMG1``: frames between two images."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..options import ModelConfig, Spec, VideoOptions, add_arguments, coerce

_T = Spec("float", "time between the images")


def _read_image(path: str):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"image not found: {path}")
    try:
        with Image.open(p) as im:
            mode = "RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "RGB"
            return np.asarray(im.convert(mode))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None


def _write_image(arr, path: Path) -> None:
    import os
    import tempfile

    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".png",
                               dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(arr).save(tmp, format=None if path.suffix else "PNG")
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc}") from None


def _describe(img) -> str:
    return f"{img.shape[1]}x{img.shape[0]} {'RGBA' if img.shape[2] == 4 else 'RGB'}"


def _targets(args: argparse.Namespace, n: int, single: bool, ts: list[float]) -> list[Path]:
    p0, p1 = Path(args.img0), Path(args.img1)
    stem = f"{p0.stem}_to_{p1.stem}"
    if single:
        outs = [Path(args.output) if args.output else p0.with_name(f"{stem}_t{ts[0]:.3f}.png")]
    else:
        folder = Path(args.output) if args.output else p0.parent
        width = max(2, len(str(n)))
        outs = [folder / f"{stem}_{k:0{width}d}.png" for k in range(1, n + 1)]
    inputs = {p0.resolve(), p1.resolve()}
    for out in outs:
        if out.resolve() in inputs:
            raise InputError(f"output {out} is an input; choose another name")
        if out.exists() and not args.overwrite:
            raise InputError(f"{out} exists; use --overwrite to replace it")
    return outs


def cmd_pair(args: argparse.Namespace) -> int:
    from ..engine import load_interpolator

    model = ModelConfig.from_namespace(args)
    multi = coerce("multi", VideoOptions.specs()["multi"], args.multi)
    t = coerce("t", _T, args.t)
    if t is not None and not 0 < t < 1:
        raise InputError(f"t must be strictly between 0 and 1, got {args.t!r}")
    if multi is not None and t is not None:
        raise InputError("give either t or multi, not both")
    ts = [k / multi for k in range(1, multi)] if multi is not None else [t or 0.5]
    img0, img1 = _read_image(args.img0), _read_image(args.img1)
    if img0.shape != img1.shape:
        raise InputError(f"the images differ: {_describe(img0)} vs {_describe(img1)}")
    outs = _targets(args, len(ts), multi is None, ts)
    from ..pipeline import probe_writable

    folder = outs[0].parent
    while not folder.exists():
        folder = folder.parent
    probe_writable(folder, outs[0])
    frames = load_interpolator(model).interpolate_many(img0, img1, ts)
    for frame, out in zip(frames, outs):
        _write_image(frame, out)
        print(out)
    return 0


def add_command(sub) -> None:
    p = sub.add_parser("pair", help="interpolate between two images")
    p.add_argument("img0")
    p.add_argument("img1")
    p.add_argument("-o", "--output", help="output file (one frame) or folder (--multi)")
    p.add_argument("--t", help="time between the images (0..1), default 0.5")
    p.add_argument("--multi", help="write the N-1 frames between the images", metavar="N")
    p.add_argument("--overwrite", action="store_true")
    add_arguments(p, ModelConfig)
    p.set_defaults(func=cmd_pair, loads_models=True)
