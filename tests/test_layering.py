"""The house rules of src/glassnet, read from the code (nothing is imported or run).

The package is built in layers; a module imports only from its own layer or the ones below it:

    leaves    < contract < blocks     < assembly              < tools               < app  < the package
    _checks     module     layers/      models/, io, history    testing, summary,     cli/   __init__
    _files      registry   losses       training, checkpoint    explain, diagnostics,
    _archive    callbacks  metrics      distributed             lr_find, pictures,
    init, plot             optim/                               report, sklearn,
    parallel               datasets/                            onnx/

Every ``import`` counts, at the top of a file or inside a function, except those under
``if TYPE_CHECKING:`` (annotations only, never run). The test fails on

- a module that has no layer (a new file says where it belongs, below),
- an import cycle among glassnet's modules,
- an import from a higher layer, unless it is on the allow-list,
- ``from glassnet.x import _name`` (or ``module._name``) that reaches into another module's private helpers:
  what crosses a module boundary is public there,
- a third-party import at the top of a module other than NumPy: optional dependencies load inside the
  function that needs them, so ``import glassnet`` needs NumPy alone,
- a CLI command module without ``add_args(parser)`` and ``run(args)``, or missing from the command table.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "glassnet"

# (prefix, layer): a module belongs to the longest prefix that matches its dotted name
LAYERS = {
    "leaves": ("glassnet._checks", "glassnet._files", "glassnet._archive", "glassnet._version", "glassnet.init",
               "glassnet.plot", "glassnet.safetensors", "glassnet.parallel",
               "glassnet.memory"),
    "contract": ("glassnet.module", "glassnet.registry", "glassnet.callbacks"),
    "blocks": ("glassnet.layers", "glassnet.losses", "glassnet.metrics", "glassnet.optim", "glassnet.datasets"),
    "assembly": ("glassnet.models", "glassnet.io", "glassnet.history", "glassnet.training", "glassnet.checkpoint",
                 "glassnet.distributed", "glassnet.text_training", "glassnet.replicas"),
    "tools": ("glassnet.testing", "glassnet.summary", "glassnet.explain", "glassnet.diagnostics",
              "glassnet.lr_find", "glassnet.pictures", "glassnet.report", "glassnet.sklearn", "glassnet.onnx"),
    "app": ("glassnet.cli", "glassnet.__main__"),
    "package": (),  # glassnet/__init__.py alone: it re-exports the public names
}  # fmt: skip
ORDER = list(LAYERS)

# The exceptions to "arrows point down", each with its reason. Keep this list short.
ALLOWED_UPWARD = {
    # Module's conveniences: model.fit / predict / evaluate / summary / save import their
    # implementation inside the method, so the contract stays below what it offers to call.
    ("glassnet.module", "glassnet.training"),
    ("glassnet.module", "glassnet.summary"),
    ("glassnet.module", "glassnet.io"),
}
# Not edges at all, so not listed above: optional dependencies (matplotlib, onnx, scikit-learn,
# mpi4py, ...) are imported inside functions (checked below), and glassnet.cli.main loads each
# command module by its name from the command table (importlib), as pip does.

# The command table's modules: one file per subcommand in src/glassnet/cli/commands/.
COMMANDS = PACKAGE / "cli" / "commands"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> str | None:
    if name == "glassnet":
        return "package"
    best, found = -1, None
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), layer
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


class Imports:
    """Every glassnet import in one module: (target module, imported name or None, line, at top level)."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(self.tree)
        top = {id(n) for n in self.tree.body}
        self.edges: list[tuple[str, str | None, int]] = []
        self.third_party_top: list[tuple[str, int]] = []
        self.module_aliases: dict[str, str] = {}  # local name -> glassnet module it is bound to
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(self.tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if not source.startswith("glassnet"):
                    if id(node) in top and node.level == 0:
                        self.third_party_top.append((source, node.lineno))
                    continue
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in MODULES:  # from glassnet import io: the module itself
                        self.edges.append((sub, None, node.lineno))
                        self.module_aliases[alias.asname or alias.name] = sub
                    else:
                        self.edges.append((source, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("glassnet"):
                        self.edges.append((alias.name, None, node.lineno))
                        if alias.asname:
                            self.module_aliases[alias.asname] = alias.name
                    elif id(node) in top:
                        self.third_party_top.append((alias.name, node.lineno))

    def private_attributes(self) -> list[tuple[str, str, int]]:
        """``module._name`` where ``module`` is a glassnet module bound by an import here."""
        found = []
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in self.module_aliases
                and is_private(node.attr)
            ):
                found.append((self.module_aliases[node.value.id], node.attr, node.lineno))
        return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


IMPORTS = {name: Imports(name, path) for name, path in MODULES.items()}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, imports in IMPORTS.items():
        for target, _, _ in imports.edges:
            if target in MODULES and target != name and target != "glassnet" and (name, target) not in ALLOWED_UPWARD:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_every_module_has_a_layer():
    missing = sorted(name for name in MODULES if layer_of(name) is None)
    assert not missing, f"modules with no layer (add them to LAYERS in tests/test_layering.py): {missing}"


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_imports_point_down():
    upward = []
    for name, imports in IMPORTS.items():
        mine = ORDER.index(layer_of(name) or "package")
        for target, _, line in imports.edges:
            if target not in MODULES or (name, target) in ALLOWED_UPWARD:
                continue
            theirs = ORDER.index(layer_of(target) or "package")
            if theirs > mine:
                upward.append(f"{imports.path.relative_to(SRC)}:{line}: {name} ({ORDER[mine]}) imports {target} "
                              f"({ORDER[theirs]})")  # fmt: skip
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_the_allow_list_is_used():
    """An exception that no longer happens is taken off the list."""
    used = {(name, target) for name, imports in IMPORTS.items() for target, _, _ in imports.edges}
    assert used >= ALLOWED_UPWARD, f"allowed but unused: {sorted(ALLOWED_UPWARD - used)}"


def test_no_private_names_cross_modules():
    crossing = []
    for name, imports in IMPORTS.items():
        for target, imported, line in imports.edges:
            if imported is not None and is_private(imported) and target != name:
                crossing.append(f"{imports.path.relative_to(SRC)}:{line}: from {target} import {imported}")
        for target, attr, line in imports.private_attributes():
            if target != name:
                crossing.append(f"{imports.path.relative_to(SRC)}:{line}: {target}.{attr}")
    assert not crossing, "private names used across modules (make them public where they live):\n" + "\n".join(crossing)


def test_only_numpy_at_the_top():
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    eager = [
        f"{imports.path.relative_to(SRC)}:{line}: import {source}"
        for imports in IMPORTS.values()
        for source, line in imports.third_party_top
        if source.split(".")[0] not in allowed
    ]
    assert not eager, "optional dependencies imported at the top of a module (import them lazily):\n" + "\n".join(eager)


@pytest.mark.parametrize("path", sorted(p for p in COMMANDS.glob("*.py") if p.name != "__init__.py"), ids=str)
def test_each_command_is_one_file(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"add_args", "run"} <= functions, f"{path.name} needs add_args(parser) and run(args)"
    table = (PACKAGE / "cli" / "main.py").read_text(encoding="utf-8")
    assert f'"glassnet.cli.commands.{path.stem}"' in table, f"{path.stem} is not in the command table of cli/main.py"


def test_the_scan_sees_the_layers():
    """The scan itself: it finds the package's modules and the imports between them."""
    assert layer_of("glassnet.layers.linear") == "blocks"
    assert layer_of("glassnet") == "package"
    assert ("glassnet.module", None, 0) not in IMPORTS["glassnet.layers.linear"].edges
    assert any(t == "glassnet.module" for t, _, _ in IMPORTS["glassnet.layers.linear"].edges)
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
