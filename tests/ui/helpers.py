"""Drive the canvas like a user: clicks in image coordinates, key presses on the canvas."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from annotator.ui.main_window import MainWindow


def view_point(window: MainWindow, x: float, y: float) -> QPoint:
    """Viewport pixel of image pixel ``(x, y)``."""
    return window.canvas.mapFromScene(x, y)


def click_image(
    qtbot,
    window: MainWindow,
    x: float,
    y: float,
    button=Qt.MouseButton.LeftButton,
    modifier=Qt.KeyboardModifier.NoModifier,
) -> None:
    """Click image pixel ``(x, y)`` and wait for the decoded mask to be shown."""
    controller = window.controller
    with qtbot.waitSignal(controller.client.decoded, timeout=60000):
        qtbot.mouseClick(window.canvas.viewport(), button, modifier, view_point(window, x, y))


def press(window: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press on the canvas (shortcuts are window-wide)."""
    QTest.keyClick(window.canvas, key, modifier)
