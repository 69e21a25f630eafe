"""Video subcommands of the CLI: ``interpolate`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import InputError


def _progress_bar(quiet: bool):
    """A tqdm bar on stderr fed by pipeline Progress events (nothing when quiet).

    The bar is created on the first event, so a run that fails during set-up prints only its
    one-line error.
    """
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    state: dict = {}

    def update(p) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=p.frames_total, unit="frame", file=sys.stderr,
                                      dynamic_ncols=True, leave=False)
        if p.frames_total and bar.total != p.frames_total:
            bar.total = p.frames_total
        bar.update(p.frames_out - bar.n)
        bar.set_postfix_str(f"{p.fps:.2f} fps out, {p.frames_in} in")

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def run_interpolate(args: argparse.Namespace, src: str, dst: str | None, extra: dict | None = None) -> int:
    from .pipeline import interpolate_video

    opts = dict(
        multi=args.multi, exp=args.exp, fps=args.fps, slowmo=args.slowmo, audio=args.audio,
        model=args.model, model_file=args.model_file, device=args.device,
        precision=args.precision, scale=args.scale, montage=args.montage,
        scene_detect=not args.no_scene_detect, scene_threshold=args.scene_threshold,
        dedup=args.dedup, codec=args.codec, crf=args.crf, preset=args.preset,
        pix_fmt=args.pix_fmt, png=args.png, input_fps=args.input_fps, overwrite=args.overwrite,
    )
    opts.update(extra or {})
    update, close = _progress_bar(args.quiet or args.json)
    try:
        summary = interpolate_video(src, dst, progress=update, **opts)
    finally:
        close()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    elif not args.quiet:
        print(summary.line())
        for w in summary.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if summary.in_sync is False:
            print("warning: audio and video are not in sync within one frame", file=sys.stderr)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    return run_interpolate(args, args.input, args.output)


def cmd_demo(args: argparse.Namespace) -> int:
    from .samples import DEFAULT_SAMPLE, sample_path

    src = sample_path(DEFAULT_SAMPLE)
    out_dir = Path(args.output_dir) if args.output_dir else Path.cwd() / "demo-output"
    dst = out_dir / f"{DEFAULT_SAMPLE}_4X_montage.mp4"
    if not args.quiet:
        print(f"sample: {src} (Big Buck Bunny, 1280x720, 25 fps, with audio)", file=sys.stderr)
    args.multi, args.montage, args.overwrite = 4, True, True
    rc = run_interpolate(args, str(src), str(dst))
    if rc == 0:
        print(f"result: {dst}")
    return rc


def _add_common(p: argparse.ArgumentParser, add_model_options) -> None:
    g = p.add_argument_group("output encoding")
    g.add_argument("--codec", help="video encoder (e.g. libx264, libx265, libvpx-vp9, prores_ks)")
    g.add_argument("--crf", type=int, help="constant quality (default 18 for H.264)")
    g.add_argument("--preset", help="encoder preset (e.g. medium, slow)")
    g.add_argument("--pix-fmt", help="pixel format, e.g. yuv420p10le for 10-bit")
    g.add_argument("--png", action="store_true", help="write a folder of PNG frames")
    add_model_options(p)
    g = p.add_argument_group("run")
    g.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    g.add_argument("--json", action="store_true", help="print the run summary as JSON")


def add_video_commands(sub, add_model_options) -> None:
    p = sub.add_parser("interpolate", help="interpolate a video (or a folder of images)")
    p.add_argument("input", help="video file, or a folder of numbered images")
    p.add_argument("-o", "--output", help="output file (.mp4 .mkv .mov .webm .gif) or folder")
    r = p.add_argument_group("rate")
    m = r.add_mutually_exclusive_group()
    m.add_argument("--multi", type=int, help="frame-rate multiplier N (any integer >= 2)")
    m.add_argument("--exp", type=int, help="multiplier 2^K (as in the RIFE scripts)")
    r.add_argument("--fps", help="target frame rate, any value: 60, 59.94, 60000/1001")
    r.add_argument("--slowmo", action="store_true",
                   help="keep the frame rate: motion plays N times slower")
    r.add_argument("--audio", default="stretch", choices=["stretch", "drop"],
                   help="audio with --slowmo: pitch-preserving stretch (default) or drop")
    r.add_argument("--input-fps", help="frame rate of an image folder (default 24)")
    s = p.add_argument_group("scenes")
    s.add_argument("--no-scene-detect", action="store_true", help="interpolate across cuts too")
    s.add_argument("--scene-threshold", type=float, help="cut sensitivity (default 0.075)")
    s.add_argument("--dedup", action="store_true",
                   help="drop duplicate frames (animation on twos) and re-time the motion")
    p.add_argument("--montage", action="store_true", help="original and result side by side")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_common(p, add_model_options)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("demo", help="4x montage of the built-in sample clip")
    p.add_argument("--output-dir", help="where to write the result (default ./demo-output)")
    _add_common(p, add_model_options)
    p.set_defaults(func=cmd_demo, exp=None, fps=None, slowmo=False, audio="stretch",
                   no_scene_detect=False, scene_threshold=None, dedup=False, input_fps=None,
                   output=None)
    _ = InputError
