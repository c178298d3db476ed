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


@pytest.fixture(scope="session")
def sam_reference(shared: Path) -> Path:
    path = shared / "reference" / "sam"
    if not (path / "sam_tiny_a.pth").is_file():
        pytest.skip(f"SAM reference vectors not found in {path}")
    return path


@pytest.fixture(scope="session")
def mobilesam_reference(shared: Path) -> Path:
    path = shared / "reference" / "mobilesam"
    if not (path / "mobilesam_a.pth").is_file():
        pytest.skip(f"MobileSAM reference vectors not found in {path}")
    return path


@pytest.fixture(scope="session")
def sam2_reference(shared: Path) -> Path:
    path = shared / "reference" / "sam2"
    if not (path / "sam2_tiny_a.pth").is_file():
        pytest.skip(f"SAM 2 reference vectors not found in {path}")
    return path


@pytest.fixture(scope="session")
def persam_reference(shared: Path) -> Path:
    path = shared / "reference" / "persam"
    if not (path / "persam_tiny_a.npz").is_file():
        pytest.skip(f"PerSAM reference vectors not found in {path}")
    return path


@pytest.fixture(scope="session")
def grabcut_dir(shared: Path) -> Path:
    path = shared / "datasets" / "grabcut"
    if not (path / "images").is_dir():
        pytest.skip(f"GrabCut dataset not found in {path}")
    return path
