"""The project-in-use question (ADR 0009): Enter takes over a stale lock, but never a live one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from annotator.core.project_lock import LockHolder, ProjectLockedError
from annotator.ui.lock_dialog import ask_locked


def _answer_with_enter(qtbot, error: ProjectLockedError) -> tuple[str, str]:
    seen: list[str] = []

    def press_enter() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, press_enter)
            return
        seen.append(box.text())
        QTest.keyClick(box, Qt.Key.Key_Return)

    QTimer.singleShot(0, press_enter)
    return ask_locked(None, error), seen[0]


@pytest.mark.parametrize(("stale", "expected"), [(True, "take_over"), (False, "cancel")])
def test_enter_takes_over_only_a_stale_lock(qtbot, tmp_path: Path, stale: bool, expected: str) -> None:
    error = ProjectLockedError(tmp_path / "project.json", LockHolder("host-a", 4242, time.time()), stale)
    answer, text = _answer_with_enter(qtbot, error)
    assert answer == expected
    assert "process 4242 on host-a" in text
