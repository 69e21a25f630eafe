"""``fluidframes cache [list] | cache clear``: what fluidframes keeps on disk, and removing it.

Three things live in the user cache (``$FLUIDFRAMES_CACHE`` or the platform's cache folder):

* ``work/``: segment work folders of failed or interrupted runs, kept for ``--resume``
  (a finished run removes its own; stale ones are pruned after
  :data:`fluidframes.segments.WORK_MAX_AGE_DAYS` days; fluidframes.segments),
* ``models/``: downloaded weights (fetched again on next use),
* ``samples/``: the demo and test clips.

``clear`` never deletes a work folder that a running job holds (it is reported as in use).
The web server keeps its jobs' work under ``--data``/work: ``--work-root`` points there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import InputError

_KINDS = ("work", "models", "samples")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f} {unit}"
    return f"{seconds:.0f} s"


def _files(folder: Path) -> list[dict]:
    """Plain files directly in ``folder`` (models, samples) with size and age."""
    out = []
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            try:
                st = p.stat()
            except OSError:
                continue
            if p.is_file() and not p.name.startswith("."):
                out.append({"path": str(p), "name": p.name, "size": st.st_size,
                            "last_change": st.st_mtime})
    return out


def inventory(root: Path, work_root: Path) -> dict:
    from ..segments import WORK_MAX_AGE_DAYS, work_folders

    work = [w.to_json() for w in work_folders(work_root)]
    out = {"cache": str(root), "work_root": str(work_root),
           "work_expires_days": WORK_MAX_AGE_DAYS, "work": work,
           "models": _files(root / "models"), "samples": _files(root / "samples")}
    out["sizes"] = {k: sum(e["size"] for e in out[k]) for k in _KINDS}
    out["total"] = sum(out["sizes"].values())
    return out


def _print_inventory(inv: dict) -> None:
    now = time.time()
    print(f"cache: {inv['cache']}  ({_human(inv['total'])} in all)")
    work = inv["work"]
    print(f"\nwork folders (failed or interrupted runs, kept for --resume; deleted after "
          f"{inv['work_expires_days']} days unchanged): {len(work)}, "
          f"{_human(inv['sizes']['work'])}  in {inv['work_root']}")
    for w in work:
        segs = (f"{w['segments_done']}/{w['segments_total']} segments"
                if w["segments_total"] is not None else f"{w['segments_done']} segments")
        what = Path(w["output"]).name if w["output"] else "?"
        src = Path(w["input"]).name if w["input"] else "?"
        flag = "  [in use]" if w["in_use"] else ""
        print(f"  {Path(w['path']).name}  {_human(w['size']):>9}  {_age(now - w['last_change']):>6}"
              f" ago  {segs:<14} {src} -> {what}{flag}")
    for kind in ("models", "samples"):
        entries = inv[kind]
        print(f"\n{kind}: {len(entries)} file(s), {_human(inv['sizes'][kind])}")
        for e in entries:
            print(f"  {e['name']}  {_human(e['size']):>9}  {_age(now - e['last_change']):>6} ago")


def clear(inv: dict, kinds: tuple[str, ...], older_than_days: float | None) -> dict:
    """Delete the inventory's entries of ``kinds`` (unchanged for ``older_than_days``, if
    given); a work folder a running job holds is kept. Returns what was removed and kept."""
    from ..segments import remove_work_folder

    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    removed, in_use, freed = [], [], 0
    for kind in kinds:
        for e in inv[kind]:
            if cutoff is not None and e["last_change"] > cutoff:
                continue
            path = Path(e["path"])
            if kind == "work":
                if not remove_work_folder(path):
                    in_use.append(str(path))
                    continue
            else:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
            removed.append(str(path))
            freed += e["size"]
    return {"removed": removed, "in_use": in_use, "freed": freed}


def cmd_cache(args: argparse.Namespace) -> int:
    from .._wheels import cache_root
    from ..segments import default_work_root

    if args.older_than is not None and not (0 <= args.older_than < 1e6):
        raise InputError(f"--older-than must be a number of days from 0, got {args.older_than:g}")
    root = cache_root()
    work_root = Path(args.work_root).expanduser() if args.work_root else default_work_root()
    if args.work_root and not work_root.is_dir():
        raise InputError(f"--work-root {args.work_root}: no such folder")
    inv = inventory(root, work_root)
    if args.action == "list":
        if args.older_than is not None or args.work_only:
            raise InputError("--older-than and --work-only go with `cache clear`")
        if args.json:
            print(json.dumps(inv, indent=2))
        else:
            _print_inventory(inv)
        return 0
    kinds = ("work",) if args.work_only else _KINDS
    result = clear(inv, kinds, args.older_than)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"removed {len(result['removed'])} item(s), {_human(result['freed'])} freed")
    for path in result["in_use"]:
        print(f"warning: kept {path}: a running job is using it", file=sys.stderr)
    return 0


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of days, got {text!r}") from None
    return value


def add_command(sub) -> None:
    p = sub.add_parser(
        "cache", help="list or clear kept work folders, downloaded models and samples",
        description="List what fluidframes keeps on disk (work folders of failed or "
        "interrupted runs, kept for --resume; downloaded models; sample clips) with sizes and "
        "ages, or clear it. A work folder in use by a running job is never deleted.")
    p.add_argument("action", choices=["list", "clear"], nargs="?", default="list")
    p.add_argument("--work-only", action="store_true",
                   help="clear: only the work folders (keep models and samples)")
    p.add_argument("--older-than", type=_days, metavar="DAYS",
                   help="clear: only what has not changed for DAYS days")
    p.add_argument("--work-root", metavar="DIR",
                   help="the work folders' root (default: the cache's work/; a server's: "
                   "its --data folder's work/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cache)


__all__ = ["add_command", "clear", "cmd_cache", "inventory"]
