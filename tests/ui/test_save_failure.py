"""A failed autosave (disk full, folder not writable) is shown to the user, the work stays in memory, and the next
change saves everything once the disk accepts writes again."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from annotator.core.errors import ProjectFileError
from annotator.core.project_store import load_project
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def test_failed_autosave_is_reported_and_retried(qtbot, make_window, image_folder, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    store = c.autosaver.store
    real_save = type(store).save

    def full_disk(self) -> float:
        raise ProjectFileError(self.path, "cannot save: [Errno 28] No space left on device")

    monkeypatch.setattr(type(store), "save", full_disk)
    messages: list[tuple[str, str]] = []
    c.message.connect(lambda title, text: messages.append((title, text)))
    click_image(qtbot, window, 80, 60)
    press(window, Qt.Key.Key_Return)
    assert messages and messages[-1][0] == "Cannot save the project"
    assert "No space left" in messages[-1][1]
    assert len(c.current_instances()) == 1 and c.autosaver.dirty  # kept in memory, still to be saved
    boxes = [b for b in window.findChildren(QMessageBox, "save_failed_dialog") if b.isVisible()]
    assert len(boxes) == 1, "one user action must not stack several error boxes"
    box = boxes[0]
    assert "No space left" in box.text()
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)  # as the user does
    qtbot.waitUntil(
        lambda: not [b for b in window.findChildren(QMessageBox, "save_failed_dialog") if b.isVisible()]
    )
    window.activateWindow()  # offscreen Qt does not hand activation back by itself
    qtbot.waitUntil(window.isActiveWindow)

    monkeypatch.setattr(type(store), "save", real_save)
    click_image(qtbot, window, 40, 40)
    press(window, Qt.Key.Key_Return)  # the next change saves both objects
    assert not c.autosaver.dirty
    saved = load_project(store.path)
    assert len(saved.image(c.current_key).instances) == 2
