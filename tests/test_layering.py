"""The layering rule of docs/DEVELOPING.md, enforced: every import inside the package goes to
the importing module's own unit or to a lower layer, module-level imports form no cycle, and
the bounds engine loads no solver."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "exactprune"

# lowest first; a unit may import its own modules and the units of lower layers only
LAYERS = [
    ("errors", "interrupts", "_version"),
    ("atomic", "parallel"),
    ("ir", "cluster"),
    ("domain",),
    ("bounds", "onnx_io"),
    ("solvers",),
    ("stability", "equivalence"),
    ("reductions", "regions"),
    ("compress_report", "pruning"),
    ("pipeline",),
    ("batch",),
    ("cli",),
    ("__init__", "__main__"),
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> list[str]:
    """The exactprune modules `path` imports (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("exactprune"):
                continue
            if node.module is None or target == "exactprune":  # from . import a, b: modules
                out += [f"{target}.{alias.name}" for alias in node.names]
            elif target != name:
                out.append(target)
        elif isinstance(node, ast.Import):
            out += [alias.name for alias in node.names if alias.name.startswith("exactprune")]
    return out


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_import_goes_down_the_layers():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert sources
    units = {unit(module_name(p)) if p.name != "__main__.py" else "__main__" for p in sources}
    assert units <= set(RANK), f"units missing from LAYERS: {units - set(RANK)}"
    bad = []
    for path in sources:
        mine = "__main__" if path.name == "__main__.py" else unit(module_name(path))
        for target in imports(path):
            theirs = unit(target)
            if theirs != mine and RANK[theirs] >= RANK[mine]:
                bad.append(f"{module_name(path)} imports {target}")
    assert not bad, "imports against the layering rule:\n" + "\n".join(bad)


def test_module_level_imports_have_no_cycle():
    graph = {module_name(p): set(imports(p, top_level_only=True))
             for p in PACKAGE.rglob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [node, nxt]))
            if nxt in graph and not state.get(nxt):
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node, [])


def test_the_bounds_engine_loads_no_solver():
    code = ("import sys, exactprune.bounds; "
            "print([m for m in ('pyscipopt', 'highspy', 'onnxruntime') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_module_is_longer_than_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
