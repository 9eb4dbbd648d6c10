"""The package's layout follows the data flow, and its imports say so: no cycle, and no
edge against the direction

    vision <- tfds_builders <- data <- training -> evaluation
    reporting reads workdir files (and uses evaluation's metrics)
    inference -> models, vision, evaluation, and training's checkpoints (``--fold``,
    model directories)
    commands (``mmnet <command>``, ``train.py``) may import everything

Imports are read with ``ast`` from every module of ``mmnet_jax`` and ``tfds_builders``:
module-level and function-level ``import``/``from`` statements and
``importlib.import_module("...")`` calls; only imports under ``if TYPE_CHECKING:`` are
left out (they never run). ``from pkg import x`` is an edge to the module ``pkg.x`` when
there is one, else to ``pkg``. Builder tests (``*_test.py``) and ``tfds_builders/testing.py``
are tests, not the package.
"""

from __future__ import annotations

import ast
import pathlib
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("mmnet_jax", "tfds_builders")

COMMON = {"mmnet_jax", "mmnet_jax.cli", "mmnet_jax.workdir"}  # leaves every layer may use
# Layer -> the layers (or single modules) it may import, besides itself and COMMON.
ALLOWED: dict[str, set[str]] = {
    "mmnet_jax.vision": set(),
    "tfds_builders": {"mmnet_jax.vision"},
    "mmnet_jax.data": {"mmnet_jax.vision", "tfds_builders"},
    "mmnet_jax.models": set(),
    "mmnet_jax.evaluation": set(),
    "mmnet_jax.training": {
        "mmnet_jax.data",
        "mmnet_jax.models",
        "mmnet_jax.evaluation",
        "mmnet_jax.vision",
    },
    "mmnet_jax.reporting": {"mmnet_jax.evaluation"},
    "mmnet_jax.inference": {
        "mmnet_jax.models",
        "mmnet_jax.vision",
        "mmnet_jax.evaluation",
        "mmnet_jax.training.checkpoints",
    },
    "mmnet_jax.commands": {"*"},
    "mmnet_jax.__main__": {"*"},
}
# Third-party packages a layer must not import (evaluation is pure NumPy).
FORBIDDEN_THIRD_PARTY = {
    "mmnet_jax.evaluation": {"jax", "jaxlib", "flax", "optax", "orbax", "tensorflow_datasets"},
    "mmnet_jax.vision": {"flax", "optax", "orbax", "tensorflow_datasets"},
}


def _module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every name this module imports (dotted, absolute)."""
    out: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                pkg = module.split(".")
                pkg = pkg if is_package else pkg[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            # "from pkg import x": the module pkg.x if there is one, else pkg (import_graph
            # resolves the longest module of each name).
            out.extend(f"{base}.{a.name}" for a in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph(root: pathlib.Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(edges, third_party)``: project module -> the project modules it imports, and
    -> the top-level names of other packages it imports."""
    files = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.name.endswith("_test.py") or path.name == "testing.py":
                continue
            files[_module_name(root, path)] = path
    edges: dict[str, set[str]] = {m: set() for m in files}
    third: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        for name in _imports(tree, module, path.name == "__init__.py"):
            top = name.split(".")[0]
            if top not in PACKAGES:
                third[module].add(top)
                continue
            # The longest project module the name is in ("from pkg import name" may be
            # a module or a name defined in pkg).
            parts = name.split(".")
            while parts and ".".join(parts) not in files:
                parts.pop()
            if parts and ".".join(parts) != module:
                edges[module].add(".".join(parts))
    return edges, third


def layer_of(module: str) -> str | None:
    best = None
    for layer in [*ALLOWED, *COMMON]:
        if (module == layer or module.startswith(layer + ".")) and (
            best is None or len(layer) > len(best)
        ):
            best = layer
    return best


def _within(module: str, target: str) -> bool:
    return module == target or module.startswith(target + ".")


def wrong_way_edges(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(edges.items()):
        layer = layer_of(module)
        allowed = ALLOWED.get(layer, set()) if layer not in COMMON else set()
        for target in sorted(targets):
            if "*" in allowed or target in COMMON or _within(target, layer or "\0"):
                continue
            if not any(_within(target, a) for a in allowed):
                bad.append(f"{module} -> {target} ({layer} may import {sorted(allowed) or 'none'})")
    return bad


def forbidden_third_party(third: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, names in sorted(third.items()):
        for layer, forbidden in FORBIDDEN_THIRD_PARTY.items():
            if _within(module, layer):
                bad += [f"{module} imports {n}" for n in sorted(names & forbidden)]
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def test_the_package_follows_the_data_flow():
    edges, third = import_graph(ROOT)
    assert len(edges) > 50  # the scan found the package
    assert wrong_way_edges(edges) == []
    assert cycles(edges) == []
    assert forbidden_third_party(third) == []
    # Every module belongs to a layer of the table.
    assert [m for m in edges if layer_of(m) is None] == []


def _tree(root: pathlib.Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_a_planted_wrong_way_import_and_cycle_are_found(tmp_path):
    """The checks can fail: a vision module importing training (inside a function), a
    module importing another through importlib, and two modules importing each other."""
    _tree(
        tmp_path,
        {
            "mmnet_jax/__init__.py": "",
            "mmnet_jax/vision/__init__.py": "",
            "mmnet_jax/vision/frames.py": """
                def f():
                    from mmnet_jax.training import trainer
                    return trainer
            """,
            "mmnet_jax/evaluation/__init__.py": "",
            "mmnet_jax/evaluation/metrics.py": "import jax.numpy as jnp\n",
            "mmnet_jax/training/__init__.py": "",
            "mmnet_jax/training/trainer.py": "from mmnet_jax.training import folds\n",
            "mmnet_jax/training/folds.py": """
                import importlib
                importlib.import_module("mmnet_jax.training.trainer")
            """,
            "tfds_builders/__init__.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from mmnet_jax.training import trainer  # never runs: not an edge
                from mmnet_jax.data import records
            """,
            "mmnet_jax/data/__init__.py": "",
            "mmnet_jax/data/records.py": "",
        },
    )
    edges, third = import_graph(tmp_path)
    assert wrong_way_edges(edges) == [
        "mmnet_jax.vision.frames -> mmnet_jax.training.trainer (mmnet_jax.vision may import none)",
        "tfds_builders -> mmnet_jax.data.records (tfds_builders may import ['mmnet_jax.vision'])",
    ]
    assert cycles(edges) == [["mmnet_jax.training.folds", "mmnet_jax.training.trainer"]]
    assert forbidden_third_party(third) == ["mmnet_jax.evaluation.metrics imports jax"]
