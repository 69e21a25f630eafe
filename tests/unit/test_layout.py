"""The layout keeps its promises: no import cycles, one way to a model, options defined once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import fluidframes

SRC = Path(fluidframes.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file, lazily or not)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                pkg = base[: len(base) - node.level + 1] if node.level else []
                target = ".".join(pkg + ([node.module] if node.module else []))
                subs = {f"{target}.{a.name}" for a in node.names} & set(mods)
                found = subs if subs and not node.module else {target} | subs
            elif isinstance(node, ast.Import):
                found = {a.name for a in node.names}
            else:
                continue
            graph[name] |= {m for m in found if m in mods and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycles():
    graph = _imports(_modules())
    assert graph["fluidframes.pipeline"], "the import scan found nothing: the test is broken"
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_models_are_built_in_one_place():
    # only the engine constructs an Interpolator from a config; shells call load_interpolator
    pattern = re.compile(r"\bInterpolator\(")
    builders = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                      if pattern.search(p.read_text()))
    assert builders == ["engine.py"], builders
    loaders = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                     if "torch.load(" in p.read_text())
    assert loaders == ["models/loader.py"], loaders
