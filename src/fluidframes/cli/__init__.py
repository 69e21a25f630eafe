"""The ``fluidframes`` command. Thin: parses arguments, calls the library, prints results.

Exit codes: 0 done; 2 a user mistake (a bad value, an unreadable input, an unwritable output;
one line on stderr); 1 our own failure (one line, ``--debug`` for the traceback); 130
interrupted (Ctrl-C, at any moment, including while the command is still starting).

This module imports only the standard library until a command runs, so ``--help`` is fast and
a Ctrl-C during start-up is caught like any other.

Ctrl-C is handled by :mod:`.interrupts` (tests/fuzz/test_interrupts.py sends it at random
moments).
"""

from __future__ import annotations

import errno
import signal
import sys
import threading

from .interrupts import INTERRUPTS as _INTERRUPTS
from .interrupts import forget_caught_interrupt as _forget_caught_interrupt

#: OSError numbers that mean "the user's disk or path", not our failure.
_USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                          errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG,
                          errno.EEXIST, errno.EXDEV, errno.EINVAL, errno.EFBIG})


def build_parser():
    import argparse

    from .. import __version__
    from . import bench, cache, models, pair, video

    parser = argparse.ArgumentParser(
        prog="fluidframes",
        description="Smoother and slow-motion video with RIFE frame interpolation.",
    )
    parser.add_argument("--version", action="version", version=f"fluidframes {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    video.add_commands(sub)
    pair.add_command(sub)
    models.add_command(sub)
    bench.add_command(sub)
    cache.add_command(sub)
    from ..server.cli import add_serve_command

    add_serve_command(sub)
    return parser


def _oserror_line(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{what}: the disk is full or a file size limit was reached; nothing was kept"
    return f"{what}: {exc.filename}" if exc.filename else what


def main(argv: list[str] | None = None) -> int:
    own = (threading.current_thread() is threading.main_thread()
           and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, _INTERRUPTS.handler) if own else None
    try:
        code = _main(argv)
    finally:
        if own:
            # the process's own command: a Ctrl-C while Python shuts down changes nothing now
            signal.signal(signal.SIGINT, signal.SIG_IGN if argv is None else previous)
    interrupted = _INTERRUPTS.event.is_set()
    _INTERRUPTS.event.clear()
    if interrupted or code == 130:
        _forget_caught_interrupt()
    if interrupted and code == 0:  # swallowed on its way (a library callback): it still counts
        print("fluidframes: interrupted", file=sys.stderr)
        code = 130
    return code


def _main(argv: list[str] | None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        import logging

        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.WARNING,
            format="%(message)s" if not args.debug else "%(levelname)s %(name)s: %(message)s",
        )
        from ..errors import FluidFramesError

        if getattr(args, "loads_models", False):
            with _INTERRUPTS.holding():
                import av  # noqa: F401
                import torch  # noqa: F401
        try:
            return args.func(args) or 0
        except FluidFramesError as exc:
            if debug:
                raise
            print(f"fluidframes: error: {exc}", file=sys.stderr)
            return exc.exit_code
    except KeyboardInterrupt:
        print("fluidframes: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except OSError as exc:
        if debug:
            raise
        if exc.errno in _USER_ERRNOS:
            print(f"fluidframes: error: {_oserror_line(exc)}", file=sys.stderr)
            return 2
        print(f"fluidframes: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            raise
        print(f"fluidframes: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)
        return 1
    finally:
        if "fluidframes.executors.ray" in sys.modules:  # stop the local Ray we started, if any
            sys.modules["fluidframes.executors.ray"].shutdown()


if __name__ == "__main__":
    sys.exit(main())
