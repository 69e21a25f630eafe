"""``fluidframes models list|fetch``: the model zoo and what is cached."""

from __future__ import annotations

import argparse
import json

from ..errors import InputError


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import registry, weights

    if args.action == "fetch":
        if not args.name:
            raise InputError("name the model to fetch, e.g. `fluidframes models fetch rife-4.25`")
        for name in args.name:
            registry.check_name(name)
            for spec in registry.weight_specs(name):
                print(weights.fetch(spec))
        return 0
    rows = []
    for spec in registry.list_models():
        params = sum(t.numel() for t in spec.family.build().state_dict().values())
        rows.append({
            "name": spec.name + (" (default)" if spec.name == registry.DEFAULT_MODEL else ""),
            "family": spec.family_name,
            "params": f"{params / 1e6:.2f}M",
            "licence": spec.license,
            "source": f"{spec.source.requirement}:{spec.source.member}",
            "cost": f"{spec.cost:g}x" if spec.cost else "",
            "cached": "yes" if weights.is_cached(spec) else "no",
        })
    for ens in registry.ENSEMBLES.values():  # measured: benchmarks/ensemble_quality.py
        members = [registry.get_spec(m) for m in ens.members]
        params = sum(sum(t.numel() for t in m.family.build().state_dict().values())
                     for m in members)
        rows.append({
            "name": ens.name,
            "family": f"ensemble ({len(ens.passes)} passes)",
            "params": f"{params / 1e6:.2f}M",
            "licence": "/".join(dict.fromkeys(m.license for m in members)),
            "source": "members: " + ", ".join(ens.members),
            "cost": f"{ens.cost:g}x, {ens.gain_db:+.2f} dB",
            "cached": "yes" if all(weights.is_cached(m) for m in members) else "no",
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


def add_command(sub) -> None:
    p = sub.add_parser("models", help="list or fetch models")
    p.add_argument("action", choices=["list", "fetch"], nargs="?", default="list")
    p.add_argument("name", nargs="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
