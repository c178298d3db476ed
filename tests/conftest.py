"""Shared fixtures: the read-only reference material in ../shared (overridable with SAM_SHARED_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$SAM_SHARED_DIR`` or ``../shared`` next to the repository."""
    return Path(os.environ.get("SAM_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.skip(f"shared reference material not found at {path} (set SAM_SHARED_DIR)")
    return path


def _reference(shared: Path, folder: str, marker: str, what: str) -> Path:
    """``shared/reference/<folder>``, or a skip naming it when its ``marker`` file is absent."""
    path = shared / "reference" / folder
    if not (path / marker).is_file():
        pytest.skip(f"{what} reference vectors not found in {path}")
    return path


@pytest.fixture(scope="session")
def sam_reference(shared: Path) -> Path:
    return _reference(shared, "sam", "sam_tiny_a.pth", "SAM")


@pytest.fixture(scope="session")
def mobilesam_reference(shared: Path) -> Path:
    return _reference(shared, "mobilesam", "mobilesam_a.pth", "MobileSAM")


@pytest.fixture(scope="session")
def sam2_reference(shared: Path) -> Path:
    return _reference(shared, "sam2", "sam2_tiny_a.pth", "SAM 2")


@pytest.fixture(scope="session")
def persam_reference(shared: Path) -> Path:
    return _reference(shared, "persam", "persam_tiny_a.npz", "PerSAM")


@pytest.fixture(scope="session")
def grabcut_dir(shared: Path) -> Path:
    path = shared / "datasets" / "grabcut"
    if not (path / "images").is_dir():
        pytest.skip(f"GrabCut dataset not found in {path}")
    return path
