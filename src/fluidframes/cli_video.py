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
        bar.set_postfix_str(f"{p.fps:.2f} fps out")

    def close() -> None:
        if "bar" in state:
            state["bar"].close()

    return update, close


def _options_from_args(args: argparse.Namespace) -> dict:
    """Pipeline options from the parsed flags (shared by single-file and batch runs)."""
    opts = dict(
        multi=args.multi, exp=args.exp, fps=args.fps, slowmo=args.slowmo, audio=args.audio,
        model=args.model, model_file=args.model_file, device=args.device,
        precision=args.precision, backend=args.backend, threads=args.threads, scale=args.scale,
        montage=args.montage,
        scene_detect=not args.no_scene_detect, scene_threshold=args.scene_threshold,
        dedup=args.dedup, codec=args.codec, crf=args.crf, preset=args.preset,
        pix_fmt=args.pix_fmt, png=args.png, input_fps=args.input_fps, overwrite=args.overwrite,
    )
    opts.update(_scale_opts(args))
    return opts


def run_interpolate(args: argparse.Namespace, src: str, dst: str | None, extra: dict | None = None) -> int:
    from .pipeline import interpolate_video

    opts = _options_from_args(args)
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


def _scale_opts(args: argparse.Namespace) -> dict:
    """Segments/resume/Ray flags (absent on commands such as ``demo``: library defaults)."""
    out = {}
    if getattr(args, "segment_seconds", None) is not None:
        out["segment_seconds"] = args.segment_seconds
    for name in ("resume", "workers", "ray_address"):
        if getattr(args, name, None):
            out[name] = getattr(args, name)
    return out


def cmd_interpolate(args: argparse.Namespace) -> int:
    from .batch import expand_inputs

    inputs, batch = expand_inputs(args.input)
    try:
        if not batch:
            return run_interpolate(args, str(inputs[0]), args.output)
        return run_batch_cli(args, inputs)
    finally:
        if "fluidframes.distributed" in sys.modules:  # stop the local Ray we started, if any
            sys.modules["fluidframes.distributed"].shutdown()


def run_batch_cli(args: argparse.Namespace, inputs: list[Path]) -> int:
    """Several inputs: one output each, a line per file, non-zero exit if any failed."""
    import threading

    from .batch import plan_outputs, run_batch
    from .errors import CancelledError

    out_dir = None
    if args.output:
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(f"with several inputs, -o must be a folder ({out_dir} is a file)")
        out_dir.mkdir(parents=True, exist_ok=True)
    probe_opts = dict(multi=args.multi, exp=args.exp, fps=args.fps, slowmo=args.slowmo,
                      png=args.png, input_fps=args.input_fps)
    items = plan_outputs(inputs, out_dir, probe_opts)
    opts = _options_from_args(args)
    update, close = _progress_bar(args.quiet or args.json)
    cancel = threading.Event()
    try:
        run_batch(items, opts, progress=update, cancel=cancel)
    except KeyboardInterrupt:
        pass
    finally:
        close()
    failed = [it for it in items if not it.ok]
    if args.json:
        print(json.dumps([it.to_dict() for it in items], indent=2, default=str))
    else:
        for it in items:
            if it.ok:
                if not args.quiet:
                    print(it.summary.line())
            else:
                print(f"fluidframes: {it.input}: FAILED: {it.error}", file=sys.stderr)
        if not args.quiet or failed:
            print(f"batch: {len(items) - len(failed)} of {len(items)} file(s) done"
                  + (f", {len(failed)} failed" if failed else ""), file=sys.stderr)
    if not failed:
        return 0
    if any(isinstance(it.error, CancelledError) for it in failed):
        return 130
    return max(getattr(it.error, "exit_code", 1) for it in failed)


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
    p.add_argument("input", nargs="+",
                   help="video file(s), a folder of numbered images (one clip), or a folder of "
                        "videos (a batch: one output per video)")
    p.add_argument("-o", "--output", help="output file (.mp4 .mkv .mov .webm .gif) or folder; "
                   "with several inputs, the folder for all outputs")
    r = p.add_argument_group("rate")
    m = r.add_mutually_exclusive_group()
    m.add_argument("--multi", type=int, help="frame-rate multiplier N (any integer >= 2)")
    m.add_argument("--exp", type=int, help="multiplier 2^K (as in the RIFE scripts)")
    r.add_argument("--fps", help="target frame rate, any value: 60, 59.94, 60000/1001")
    r.add_argument("--slowmo", action="store_true",
                   help="keep the frame rate: motion plays N times slower")
    r.add_argument("--audio", default="stretch", choices=["stretch", "drop"],
                   help="audio with --slowmo: pitch-preserving stretch (default) or drop")
    r.add_argument("--input-fps", help="frame rate of an image folder (default 30)")
    s = p.add_argument_group("scenes")
    s.add_argument("--no-scene-detect", action="store_true", help="interpolate across cuts too")
    s.add_argument("--scene-threshold", type=float, help="cut sensitivity (default 0.075)")
    s.add_argument("--dedup", action="store_true",
                   help="drop duplicate frames (animation on twos) and re-time the motion")
    p.add_argument("--montage", action="store_true", help="original and result side by side")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    w = p.add_argument_group("segments, resume and workers")
    w.add_argument("--segment-seconds", type=float, metavar="S",
                   help="source seconds per segment, cut at keyframes (default 10; 0: one)")
    w.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its completed segments")
    w.add_argument("--workers", type=int, metavar="N",
                   help="render segments on N local Ray workers (pip install "
                        "'fluidframes[distributed]')")
    w.add_argument("--ray-address", metavar="ADDR",
                   help="render on an existing Ray cluster (e.g. ray://head:10001 or auto)")
    _add_common(p, add_model_options)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("demo", help="4x montage of the built-in sample clip")
    p.add_argument("--output-dir", help="where to write the result (default ./demo-output)")
    _add_common(p, add_model_options)
    p.set_defaults(func=cmd_demo, exp=None, fps=None, slowmo=False, audio="stretch",
                   no_scene_detect=False, scene_threshold=None, dedup=False, input_fps=None,
                   output=None)
    _ = InputError
