"""Imports point one way: the UI uses the engine, never the reverse; storage never pulls in
preprocessing; tests, benchmarks and scripts use the packages, not each other; no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from browser_driver.harness import REPO_ROOT, checkout_env

PACKAGES = ("nn_core", "dashboard")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, with relative imports made absolute."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            # `from . import x` and `from nn_core import x` may name submodules.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:``, imports only type checkers follow."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
            continue
        yield child
        yield from runtime_nodes(child)


def project_files(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    """Package module → the package modules it imports."""
    modules = {module_name(path): path for package in PACKAGES for path in project_files(package)}
    return {name: {imported for imported in imported_modules(path) if imported in modules and imported != name}
            for name, path in modules.items()}


def loaded_after_import(module: str) -> set[str]:
    """Top-level names in sys.modules after importing ``module`` in a fresh interpreter."""
    probe = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=checkout_env(),
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_package_modules_import_each_other_without_cycles():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if imported == module.rpartition(".")[0]:
                continue  # a module's package runs first anyway; only its __init__'s own imports count
            if state.get(imported) == "open":
                pytest.fail("import cycle: " + " → ".join(path[path.index(imported):] + [imported]))
            if imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("folder, forbidden", [
    ("nn_core", ("streamlit", "plotly", "dashboard", "tests", "benchmarks", "scripts")),
    ("dashboard", ("tests", "benchmarks", "scripts")),
    ("tests", ("benchmarks", "scripts")),
    ("benchmarks", ("tests", "scripts")),
    ("scripts", ("tests", "benchmarks")),
    ("browser_driver", ("tests", "benchmarks", "scripts")),
])
def test_each_part_imports_only_what_it_may(folder, forbidden):
    offenders = [f"{path.relative_to(REPO_ROOT)} imports {name}"
                 for path in project_files(folder)
                 for name in sorted(imported_modules(path)) if name.split(".")[0] in forbidden]
    assert not offenders


def test_tests_share_helper_modules_not_each_other():
    offenders = [f"{path.relative_to(REPO_ROOT)} imports {name}" for path in project_files("tests")
                 for name in sorted(imported_modules(path)) if name.rpartition(".")[2].startswith("test_")]
    assert not offenders


@pytest.mark.parametrize("module", ["nn_core.storage.network_file", "nn_core.storage.mnist"])
def test_storage_never_loads_preprocessing(module):
    assert "nn_core.preprocess" not in loaded_after_import(module)


@pytest.mark.parametrize("module", ["nn_core", "nn_core.cli", "nn_core.storage.network_file", "nn_core.preprocess",
                                    "nn_core.training.trainer", "nn_core.synthetic.redraw"])
def test_the_engine_never_loads_the_ui(module):
    loaded = {name.split(".")[0] for name in loaded_after_import(module)}
    assert not loaded & {"streamlit", "plotly", "dashboard"}


def test_nothing_edits_the_import_path():
    edits = [str(path.relative_to(REPO_ROOT)) for folder in (*PACKAGES, "tests", "benchmarks", "scripts", "browser_driver")
             for path in project_files(folder)
             if path != Path(__file__) and "sys.path.insert" in path.read_text()]
    assert not edits


MODEL = ("nn_core.config", "nn_core.errors", "nn_core.model.blas", "nn_core.model.layers", "nn_core.model.plain_conv",
         "nn_core.model.conv", "nn_core.model.losses", "nn_core.model.optimizers", "nn_core.model.network")


def imported_by(module: str, graph: dict[str, set[str]]) -> set[str]:
    """Every package module ``module`` imports, directly or through others."""
    reached, waiting = set(), [module]
    while waiting:
        for imported in graph[waiting.pop()] - reached:
            reached.add(imported)
            waiting.append(imported)
    return reached


@pytest.mark.parametrize("module", MODEL)
def test_the_model_never_imports_the_speed_layer(module):
    assert not {name for name in imported_by(module, import_graph()) if name.startswith("nn_core.speed")}


def test_optimizers_see_parameters_never_layers():
    assert not imported_by("nn_core.model.optimizers", import_graph()) & {"nn_core.model.layers", "nn_core.model.conv",
                                                                     "nn_core.model.network"}
