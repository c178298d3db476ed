"""Issue 12, finding 3: an unaccepted live mask survives Next/Previous and quitting asks first."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def _answer_next_box(button: QMessageBox.StandardButton, seen: list[str]) -> None:
    """Click ``button`` of the modal box the next action opens (recording its text)."""

    def answer() -> None:
        boxes = [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "unaccepted_dialog" and w.isVisible()
        ]
        if not boxes:
            QTimer.singleShot(20, answer)
            return
        box = boxes[0]
        seen.append(box.text())
        box.button(button).click()

    QTimer.singleShot(0, answer)


def test_live_mask_survives_next_and_previous(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    click_image(qtbot, window, 60, 50)
    shown = c.live_mask().copy()
    points = c.prompt_state.points
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_PageDown)
    assert c.current_key == "c.png" and c.live_mask() is None and c.prompt_state.is_empty
    assert c.unaccepted_images() == ["a.png"]
    qtbot.waitUntil(lambda: c.client.image_ready, timeout=60000)
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_PageUp)
    assert c.current_key == "a.png"
    assert c.prompt_state.points == points
    assert c.live_mask() is not None and np.array_equal(c.live_mask(), shown)
    assert window.canvas.live_layer.labels is not None
    press(window, Qt.Key.Key_Return)
    assert len(c.project.image("a.png").instances) == 1
    assert c.unaccepted_images() == []


def test_painted_live_mask_survives_navigation(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    painted = np.zeros((120, 160), bool)
    painted[10:20, 10:30] = True
    c.set_live_override(painted)
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_PageDown)
    assert c.live_mask() is None
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_PageUp)
    assert np.array_equal(c.live_mask(), painted)


def test_quit_with_an_unaccepted_mask_asks(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    click_image(qtbot, window, 60, 50)
    seen: list[str] = []
    _answer_next_box(QMessageBox.StandardButton.Cancel, seen)
    window.close()
    assert seen and "a.png" in seen[0]
    assert window.isVisible() and not c.closed and c.live_mask() is not None
    _answer_next_box(QMessageBox.StandardButton.Discard, seen)
    window.close()
    assert len(seen) == 2 and not window.isVisible() and c.closed


def test_quit_without_unaccepted_mask_does_not_ask(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    window.close()
    assert window.controller.closed
