"""The ``fluidframes serve`` subcommand. Only argparse here: FastAPI/uvicorn are imported when
the command runs, so ``fluidframes --help`` works without the ``server`` extra."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import InputError
from .config import TOKEN_ENV, ServerConfig, default_data_dir, parse_size

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
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument("--model", help="model preselected in the page (default: the registry's)")
    p.add_argument("--model-file", help="serve your own Practical-RIFE checkpoint instead")
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    p.set_defaults(func=cmd_serve)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    model_file = Path(args.model_file) if args.model_file else None
    if model_file is not None and not model_file.is_file():
        raise InputError(f"model file not found: {model_file}")
    cfg = ServerConfig(
        data_dir=Path(args.data) if args.data else default_data_dir(),
        host=args.host, port=args.port, token=args.token or ServerConfig.token_from_env(),
        max_upload=parse_size(args.max_upload), workers=args.workers, device=args.device,
        precision=args.precision, default_model=args.model, model_file=model_file,
        threads=args.threads,
    )
    cfg.check_exposure()
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
    print(f"fluidframes web app: {url}{'?token=<your token>' if cfg.token else ''}  "
          f"(data: {cfg.data_dir})", file=sys.stderr)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info",
                timeout_graceful_shutdown=3)
    return 0
