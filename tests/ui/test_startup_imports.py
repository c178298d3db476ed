"""The window shows the first image before torch is imported (issue 13, item 1): with the classical engine torch
is never needed, and with a checkpoint it is loaded by the segment worker, in the background."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import annotator.launcher as launcher

def poll():
    for w in QApplication.topLevelWidgets():
        if type(w).__name__ == "MainWindow" and w.isVisible() and w.canvas.has_image:
            print("TORCH", "torch" in sys.modules, file=sys.stderr)
            w.close()
            return
    QTimer.singleShot(10, poll)

QTimer.singleShot(0, poll)
sys.exit(launcher.main(sys.argv[1:]))
"""


def test_first_image_is_shown_without_torch(tmp_path: Path) -> None:
    import shutil

    from annotator.bundled import resource_dir

    folder = tmp_path / "images"
    shutil.copytree(resource_dir("samples"), folder)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SAM_ANNOTATOR_HOME=str(tmp_path / "home"))
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("TORCH")]
    assert lines == ["TORCH False"], done.stderr
