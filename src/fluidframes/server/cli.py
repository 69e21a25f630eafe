"""The ``fluidframes serve`` subcommand. Only argparse here: FastAPI/uvicorn are imported when
the command runs, so ``fluidframes --help`` works without the ``server`` extra."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import InputError
from ..options import ModelConfig, add_arguments
from .config import (
    DEFAULT_MAX_DURATION,
    DEFAULT_MAX_OUTPUT_FRAMES,
    DEFAULT_MAX_PIXEL_RATE,
    TOKEN_ENV,
    ServerConfig,
    default_data_dir,
    parse_size,
)

log = logging.getLogger(__name__)


def add_serve_command(sub) -> None:
    p = sub.add_parser("serve", help="the web app: upload videos, watch progress, download",
                       description="Run the local web app and HTTP API (FastAPI + uvicorn).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", metavar="DIR",
                   help=f"where jobs, uploads and results are kept (default {default_data_dir()})")
    p.add_argument("--token", help=f"secret every request must carry (or env {TOKEN_ENV}); "
                                   "required when --host is not a loopback address")
    p.add_argument("--max-upload", default="4G", metavar="SIZE",
                   help="largest accepted upload, e.g. 4G (default), 500M")
    p.add_argument("--workers", type=int, default=1,
                   help="jobs run at the same time on the device (default 1)")
    lim = p.add_argument_group("limits per job (an upload asking for more is refused)")
    lim.add_argument("--max-output-frames", default=str(DEFAULT_MAX_OUTPUT_FRAMES), metavar="N",
                     help=f"output frames, e.g. 360000 or 500k (default "
                          f"{DEFAULT_MAX_OUTPUT_FRAMES:,}: 100 minutes at 60 fps)")
    lim.add_argument("--max-pixel-rate", default=str(DEFAULT_MAX_PIXEL_RATE), metavar="PX/S",
                     help="output pixels per second, width x height x fps (montage: twice the "
                          "width), e.g. 1G (default 4K at 120 fps)")
    lim.add_argument("--max-duration", default=str(DEFAULT_MAX_DURATION), metavar="TIME",
                     help=f"length of the source, e.g. 3600, 90m, 2h (default "
                          f"{DEFAULT_MAX_DURATION / 3600:g} h)")
    add_arguments(p, ModelConfig, include=("model", "model_file", "device", "precision",
                                           "threads"))
    p.set_defaults(func=cmd_serve)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    model = ModelConfig.from_namespace(args)
    cfg = ServerConfig(
        data_dir=Path(args.data) if args.data else default_data_dir(),
        host=args.host, port=args.port, token=args.token or ServerConfig.token_from_env(),
        max_upload=parse_size(args.max_upload), workers=args.workers, model=model,
        max_output_frames=args.max_output_frames, max_pixel_rate=args.max_pixel_rate,
        max_duration=args.max_duration,
    )
    cfg.check_exposure()
    if model.model_file:  # a served checkpoint is loaded (and refused if unsafe) before serving
        from ..models.loader import load

        load(model.model_file)
    return cfg


def cmd_serve(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise InputError(f"the web app needs the server extra: pip install 'fluidframes[server]' "
                         f"({exc.name} is missing)") from None
    logging.getLogger("fluidframes").setLevel(logging.INFO)
    app = create_app(cfg)
    shown = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    url = f"http://{shown}:{cfg.port}/"
    # The token goes in the page URL once: the page answers with a cookie and a redirect to
    # the bare URL, and every log line has it masked (security.redact).
    print(f"fluidframes web app: {url}{'?token=<your token>' if cfg.token else ''}  "
          f"(data: {cfg.data_dir})", file=sys.stderr)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info",
                timeout_graceful_shutdown=3)
    return 0
