"""The ``fluidframes`` command. Thin: parses arguments, calls the library, prints results.

Errors of the FluidFramesError family become one line on stderr and exit code 2 (bad input) or
1 (internal); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import FluidFramesError, InputError

log = logging.getLogger("fluidframes")


# ---- pair ----------------------------------------------------------------------------------------

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(arr).save(tmp, format=None if path.suffix else "PNG")
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc}") from None


def cmd_pair(args: argparse.Namespace) -> int:
    from .engine import Interpolator

    img0, img1 = _read_image(args.img0), _read_image(args.img1)
    if img0.shape != img1.shape:
        raise InputError(f"the images differ in size: {img0.shape[1]}x{img0.shape[0]} vs "
                         f"{img1.shape[1]}x{img1.shape[0]}")
    if args.multi is not None:
        if args.multi < 2:
            raise InputError("--multi must be at least 2")
        ts = [k / args.multi for k in range(1, args.multi)]
    else:
        ts = [args.t]
    it = Interpolator(**_model_kwargs(args))
    frames = it.interpolate_many(img0, img1, ts)
    p0, p1 = Path(args.img0), Path(args.img1)
    stem = f"{p0.stem}_to_{p1.stem}"
    written = []
    if len(frames) == 1 and args.multi is None:
        out = Path(args.output) if args.output else p0.with_name(f"{stem}_t{ts[0]:.3f}.png")
        if out.exists() and not args.overwrite:
            raise InputError(f"{out} exists; use --overwrite to replace it")
        _write_image(frames[0], out)
        written.append(out)
    else:
        folder = Path(args.output) if args.output else p0.parent
        width = max(2, len(str(len(frames))))
        for k, frame in enumerate(frames, 1):
            out = folder / f"{stem}_{k:0{width}d}.png"
            if out.exists() and not args.overwrite:
                raise InputError(f"{out} exists; use --overwrite to replace it")
            _write_image(frame, out)
            written.append(out)
    for w in written:
        print(w)
    return 0


# ---- models --------------------------------------------------------------------------------------

def cmd_models(args: argparse.Namespace) -> int:
    from .models import registry, weights

    if args.action == "fetch":
        if not args.name:
            raise InputError("name the model to fetch, e.g. `fluidframes models fetch rife-4.25`")
        for name in args.name:
            spec = registry.get_spec(name)
            print(weights.fetch(spec))
        return 0
    rows = []
    for spec in registry.list_models():
        params = sum(t.numel() for t in spec.family_spec.build().state_dict().values())
        rows.append({
            "name": spec.name + (" (default)" if spec.name == registry.DEFAULT_MODEL else ""),
            "family": spec.family,
            "params": f"{params / 1e6:.2f}M",
            "licence": spec.license,
            "source": f"{spec.source.requirement}:{spec.source.member}",
            "cached": "yes" if weights.is_cached(spec) else "no",
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols))
    return 0


# ---- parser --------------------------------------------------------------------------------------

def _model_kwargs(args: argparse.Namespace) -> dict:
    kw = dict(device=args.device, precision=args.precision, scale=args.scale,
              backend=args.backend, threads=args.threads)
    if args.model_file:
        kw["model_file"] = args.model_file
    else:
        kw["model"] = args.model
    return kw


def _add_model_options(p: argparse.ArgumentParser) -> None:
    from .models.registry import DEFAULT_MODEL

    g = p.add_argument_group("model")
    g.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL}; "
                   "see `fluidframes models list`)")
    g.add_argument("--model-file", help="your own Practical-RIFE flownet.pkl (family auto-detected)")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    g.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="auto: fp16 on CUDA, bf16 convolutions on CPUs that have them, else fp32")
    g.add_argument("--backend", default="auto", choices=["auto", "torch", "eager"],
                   help="inference path: torch (fast, default where it applies) or eager")
    g.add_argument("--scale", type=float, default=1.0,
                   help="flow resolution factor: 0.25, 0.5, 1, 2, 4 (0.5 for 4K)")
    g.add_argument("--threads", type=int, default=None,
                   help="CPU threads for inference (default: one per physical core)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fluidframes",
        description="Smoother and slow-motion video with RIFE frame interpolation.",
    )
    parser.add_argument("--version", action="version", version=f"fluidframes {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from .cli_video import add_video_commands

    add_video_commands(sub, _add_model_options)
    from .cli_bench import add_bench_command
    add_bench_command(sub, _add_model_options)
    from .server.cli import add_serve_command
    add_serve_command(sub)

    p = sub.add_parser("pair", help="interpolate between two images")
    p.add_argument("img0")
    p.add_argument("img1")
    p.add_argument("-o", "--output", help="output file (one frame) or folder (--multi)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--t", type=float, default=0.5, help="time between the images (0..1), default 0.5")
    g.add_argument("--multi", type=int, help="write the N-1 frames between the images")
    p.add_argument("--overwrite", action="store_true")
    _add_model_options(p)
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("models", help="list or fetch models")
    p.add_argument("action", choices=["list", "fetch"], nargs="?", default="list")
    p.add_argument("name", nargs="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(message)s" if not args.debug else "%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except FluidFramesError as exc:
        if args.debug:
            raise
        print(f"fluidframes: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fluidframes: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"fluidframes: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
