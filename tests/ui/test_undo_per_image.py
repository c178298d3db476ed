"""Issue 12, finding 1: Ctrl+Z never changes an image out of sight; the Edit menu says what Undo/Redo will do."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press

CTRL = Qt.KeyboardModifier.ControlModifier


def _go(qtbot, window, direction: int) -> None:
    c = window.controller
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        c.step_image(direction)
    qtbot.waitUntil(lambda: c.client.image_ready, timeout=60000)


def test_undo_on_another_image_first_brings_it_into_view(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    click_image(qtbot, window, 60, 50)
    press(window, Qt.Key.Key_Return)
    assert len(c.project.image("a.png").instances) == 1
    undo_action = window.actions_by_id["undo"]
    assert "Accept object" in undo_action.text() and undo_action.isEnabled()

    _go(qtbot, window, +1)
    assert c.current_key == "c.png"
    # The Edit menu names the other image.
    assert "a.png" in undo_action.text()
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_Z, CTRL)
    # Nothing changed yet: image A is shown and the status bar says what Undo will do there.
    assert c.current_key == "a.png"
    assert len(c.project.image("a.png").instances) == 1
    message = window.notice_label.text()
    assert "Accept object" in message and "a.png" in message and window.notice_label.isVisible()
    press(window, Qt.Key.Key_Z, CTRL)
    assert len(c.project.image("a.png").instances) == 0
    assert window.notice_label.text().startswith("Undone: Accept object")
    assert "Accept object" in window.actions_by_id["redo"].text()
    assert not undo_action.isEnabled()


def test_redo_on_another_image_first_brings_it_into_view(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    click_image(qtbot, window, 60, 50)
    press(window, Qt.Key.Key_Return)
    press(window, Qt.Key.Key_Z, CTRL)
    assert not c.project.image("a.png").instances
    _go(qtbot, window, +1)
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert c.current_key == "a.png" and not c.project.image("a.png").instances
    press(window, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert len(c.project.image("a.png").instances) == 1
