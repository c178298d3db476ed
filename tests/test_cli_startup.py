"""Headless commands that do not need the model start without torch (issue 13, item 1): the parser imports only
the module of the command being run, and ``export``/``import``/``models list``/``--help`` never import torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs main() in-process, then reports whether torch (or Qt) was imported on the way.
PROBE = """
import sys
from annotator.launcher import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print("MODULES", "torch" in sys.modules, "PySide6.QtWidgets" in sys.modules, file=sys.stderr)
sys.exit(status)
"""


def _probe(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SAM_ANNOTATOR_HOME=str(cwd / "home"))
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["export", "--help"],
        ["import", "--help"],
        ["models", "list"],
        ["auto", "--help"],
    ],
)
def test_torch_free_commands_do_not_import_torch(tmp_path: Path, args: list[str]) -> None:
    done = _probe(args, tmp_path)
    assert done.returncode == 0, done.stderr
    torch_loaded, qt_loaded = done.stderr.strip().splitlines()[-1].split()[1:]
    assert torch_loaded == "False", f"{args} imported torch"
    assert qt_loaded == "False", f"{args} imported Qt widgets"


def test_gui_help_lists_every_command_with_its_help(tmp_path: Path) -> None:
    """``main.py --help`` (the GUI's parser) names every headless command with its one-line help (README)."""
    from annotator.cli.commands import COMMANDS

    done = _probe(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {
        line.split()[0]: " ".join(line.split()[1:]) for line in done.stdout.splitlines() if line[:2] == "  "
    }
    for name, entry in COMMANDS.items():
        assert listed.get(name) == entry.help.replace("%%", "%"), f"{name} missing from --help"


def test_export_runs_without_torch(tmp_path: Path) -> None:
    """A real export (a project with one object) does not import torch either."""
    import numpy as np

    from annotator.core.masks import Mask
    from annotator.core.project_store import ProjectStore

    folder = tmp_path / "images"
    folder.mkdir()
    store = ProjectStore.open(folder)
    project = store.project
    project.add_image("a.png", 20, 10)
    category = project.add_category("cat", (255, 0, 0))
    mask = np.zeros((10, 20), bool)
    mask[2:6, 3:9] = True
    project.add_instance("a.png", project.new_instance(Mask.from_array(mask), category.id))
    store.save()
    done = _probe(["export", str(folder), "--out", str(tmp_path / "coco.json")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert done.stderr.strip().splitlines()[-1].split()[1] == "False"


def test_help_lists_every_command_without_importing_them() -> None:
    from annotator.cli import build_parser
    from annotator.cli.commands import COMMANDS

    text = build_parser("").format_help()
    for name, entry in COMMANDS.items():
        assert name in text
        assert entry.help.replace("%%", "%")[:30] in text


def test_command_table_matches_the_modules() -> None:
    """Every module registers exactly the command the table names it for, with the table's help line."""
    import argparse
    import importlib

    from annotator.cli.commands import COMMANDS

    for name, entry in COMMANDS.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(entry.module).register(sub)
        assert set(sub.choices) == {name}
        assert sub._choices_actions[0].help == entry.help


def test_export_choices_match_the_core() -> None:
    from annotator.cli.export_cmd import SEGMENTATION_CHOICES
    from annotator.core.model import SEGMENTATION_MODES

    assert tuple(SEGMENTATION_CHOICES) == tuple(SEGMENTATION_MODES)
    from annotator.cli.export_cmd import IMAGE_CHOICES
    from annotator.core.coco import IMAGE_CHOICES as CORE_IMAGE_CHOICES

    assert tuple(IMAGE_CHOICES) == tuple(CORE_IMAGE_CHOICES)
