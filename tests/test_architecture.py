"""The package's imports point one way: no module imports a higher layer, and no import cycle.

Every module of ``painterly`` is read with ``ast``; every ``import`` counts, including those inside
functions (lazy imports are how cycles hide). See docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "painterly"

#: The layers, lowest first. A module may import its own layer (without cycles) and the layers
#: below it, never a layer above. A prefix covers the module of that name and the modules under it
#: (``painterly`` alone is the package's ``__init__``); a module no prefix covers fails the test.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("painterly.errors", "painterly.progress", "painterly.devices", "painterly.options", "painterly.preload")),
    ("tensors, files and features", ("painterly.ops", "painterly.io", "painterly.features", "painterly.styles")),
    ("networks and losses", ("painterly.models", "painterly.losses")),
    ("methods", ("painterly.methods", "painterly.export", "painterly.inference", "painterly.registry", "painterly.api")),
    ("pipelines", ("painterly.video", "painterly.evaluate", "painterly.train", "painterly.cluster")),
    ("interfaces", ("painterly.cli", "painterly.web", "painterly.__main__", "painterly")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest prefix naming ``module``."""
    best, length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (module.startswith(prefix + ".") and prefix != "painterly")
            if inside and len(prefix) > length:
                best, length = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py")
    return best


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``painterly`` modules that ``module`` imports anywhere in its file (functions included)."""

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(known(alias.name) for alias in node.names if alias.name.split(".")[0] == "painterly")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            if base.split(".")[0] != "painterly":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else known(base))
    found.discard(module)
    found.discard("")
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_every_module_is_in_a_layer():
    for module in all_modules():
        layer_of(module)


def test_no_import_points_up_a_layer():
    upward = []
    for module, targets in import_graph().items():
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" ↔ ".join(group) for group in found)


def test_modules_never_import_their_own_package():
    """A package's ``__init__`` re-exports; the modules inside it import each other directly."""
    wrong = [f"{module} imports {target}" for module, targets in import_graph().items() for target in targets
             if module.startswith(target + ".")]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The graph walker sees lazy and relative imports, and the cycle finder finds cycles."""
    source = tmp_path / "painterly" / "ops"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "a.py").write_text("def f():\n    from painterly.cli.main import cli\n    from . import b\n")
    (source / "b.py").write_text("import painterly.ops.a\n")
    modules = {"painterly.ops": source / "__init__.py", "painterly.ops.a": source / "a.py", "painterly.ops.b": source / "b.py",
               "painterly.cli.main": PACKAGE / "cli" / "main.py"}  # fmt: skip
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items() if name.startswith("painterly.ops")}
    assert graph["painterly.ops.a"] == {"painterly.cli.main", "painterly.ops.b"}
    assert layer_of("painterly.cli.main") > layer_of("painterly.ops.a")
    assert cycles(graph) == [["painterly.ops.a", "painterly.ops.b"]]
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("elsewhere.module")
