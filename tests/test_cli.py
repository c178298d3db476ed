"""``python main.py``: every headless command is there, and errors a user can act on are one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.cli import command_names

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SAM_ANNOTATOR_HOME=str(cwd / "home"))
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_all_commands_are_registered() -> None:
    assert command_names() == {
        "export",
        "import",
        "bench",
        "auto",
        "models",
        "encode",
        "propagate",
        "boxes-to-masks",
    }


@pytest.mark.parametrize(
    "args",
    [
        ("export", "no-such-folder", "--out", "coco.json"),
        ("import", "no-such-folder", "coco.json"),
        ("models", "verify", "no-such-file.pth"),
        ("no-such-folder",),  # the GUI with a folder that does not exist
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = _run(*args, cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "no-such" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("auto", "folder", "--out", "x.json", "--box-nms-thresh", "5"),
        ("auto", "folder", "--out", "x.json", "--pred-iou-thresh", "-0.1"),
        ("auto", "folder", "--out", "x.json", "--points-per-side", "0"),
        ("propagate", "folder", "--ref", "a.png", "--instance", "1", "--out", "x.json", "--max-overlap", "2"),
    ],
)
def test_out_of_range_options_are_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = _run(*args, cwd=tmp_path)
    assert done.returncode == 2  # argparse's usage error, before any work
    assert "Traceback" not in done.stderr
    assert "between 0 and 1" in done.stderr or "at least 1" in done.stderr
