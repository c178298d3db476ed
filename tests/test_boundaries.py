"""The package boundaries of DESIGN.md: sam_model and annotator.core never import Qt or the app; workers never
import the ui."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "sam_model": ("PySide6", "PyQt5", "PyQt6", "shiboken6", "annotator"),
    "annotator/core": ("PySide6", "PyQt5", "PyQt6", "shiboken6", "annotator.ui", "annotator.workers"),
    "annotator/workers": ("annotator.ui",),  # not even for typing (ADR 0010)
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}"
    bad = []
    for file in files:
        for name in _imports(file):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{file.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)
