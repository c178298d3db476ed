"""The package boundaries of DESIGN.md (also import-linter contracts in pyproject.toml, run by ``make lint``):
sam_model and annotator.core never import Qt or the app, the workers never import the UI, and the torch-free
entry points never import torch at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6")

FORBIDDEN = {
    "sam_model": (*QT, "annotator"),
    "annotator/core": (*QT, "annotator.ui", "annotator.workers"),
    "annotator/workers": ("annotator.ui",),  # not even for typing (ADR 0010)
}

# What `main.py --help`, `export`, `import` and `models list` import before they run: never torch (issue 13).
TORCH_FREE_ENTRY_POINTS = (
    "annotator.launcher",
    "annotator.cli.export_cmd",
    "annotator.cli.import_cmd",
    "annotator.cli.models_cmd",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module of ``from ... import`` (relative imports resolved against ``module``'s package)."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".")
    if not is_package:
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path, *, module: str | None = None, module_level_only: bool = False) -> set[str]:
    """Modules imported by ``path`` (for ``from X import y`` both ``X`` and ``X.y``, as ``y`` may be a module).

    ``module_level_only``: only imports executed when the module is imported (not inside functions or classes'
    methods, not under ``if TYPE_CHECKING``). ``module``: the name of ``path`` (default: from its place)."""
    module = _module_name(path) if module is None else module
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if module_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if module_level_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _forbidden(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}"
    bad = [
        f"{file.relative_to(ROOT)} imports {name}"
        for file in files
        for name in sorted(_imports(file))
        if _forbidden(name, FORBIDDEN[package])
    ]
    assert not bad, "\n".join(bad)


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    """The check sees ``from ..ui import x`` as ``annotator.ui.x`` (it once ignored relative imports)."""
    probe = tmp_path / "probe.py"
    probe.write_text("from ..ui import main_window\nfrom . import threads\n", encoding="utf-8")
    names = _imports(probe, module="annotator.workers.probe")
    assert {"annotator.ui", "annotator.ui.main_window", "annotator.workers.threads"} <= names
    assert _forbidden("annotator.ui.main_window", FORBIDDEN["annotator/workers"])


def _file_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_level_closure(start: str) -> set[str]:
    """Every module imported at module level from ``start`` on, following our own packages (and the packages
    above each module, which Python imports first)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in seen:
                continue
            seen.add(name)
            path = _file_of(name)
            if path is not None:
                todo.extend(_imports(path, module_level_only=True))
    return seen


@pytest.mark.parametrize("entry", TORCH_FREE_ENTRY_POINTS)
def test_torch_free_entry_points_do_not_import_torch_at_module_level(entry: str) -> None:
    reached = _module_level_closure(entry)
    assert entry in reached
    heavy = sorted(name for name in reached if _forbidden(name, ("torch", *QT)))
    assert not heavy, f"{entry} imports {heavy} at module level"
