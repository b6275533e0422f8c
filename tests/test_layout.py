"""The library's modules import one another one way: no import circle, and the cheap modules stay
free of TensorFlow. The graph is read from the source with ``ast`` (imports inside functions
count too), so nothing is imported to check it."""
from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "atomicvad_lib"


def _imported_modules(path) -> set[str]:
    """The library modules a module imports (``from .x import``, ``from . import x``,
    ``import atomicvad_lib.x``), wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("atomicvad_lib."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("atomicvad_lib."))
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the library modules it imports (``__init__`` left out: it imports lazily)."""
    modules = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    return {name: _imported_modules(path) & set(modules) for name, path in modules.items()}


def test_imports_have_no_circle():
    graph = import_graph()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise AssertionError(f"import circle: {' -> '.join(err.args[1])}") from None
    assert set(order) == set(graph)


def test_the_graph_reader_sees_relative_and_absolute_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from .config import Config\nfrom . import paths, files\n"
                      "def f():\n    import atomicvad_lib.runs\n    from atomicvad_lib.model import x\n")
    assert _imported_modules(source) == {"config", "paths", "files", "runs", "model"}


def test_cheap_modules_do_not_reach_tensorflow():
    """The CLI, the course runner and the configuration load without TensorFlow; they import
    only modules that do not import keras or tensorflow themselves."""
    graph = import_graph()
    heavy = set()
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {alias.name.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in (node.names if isinstance(node, ast.Import) else
                               [ast.alias(node.module or "")]) if not getattr(node, "level", 0)}
        if names & {"keras", "tensorflow"}:
            heavy.add(path.stem)

    def reaches(module, seen=()):
        return module in heavy or any(reaches(m, (*seen, module)) for m in graph.get(module, ())
                                      if m not in seen)

    for cheap in ("cli", "course", "config", "checks", "paths", "files", "manifest", "audio"):
        assert not reaches(cheap), f"{cheap} imports TensorFlow through the library"
