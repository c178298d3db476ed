"""Issue 15, item 2 (window): the dirty state is shown until a save succeeds; a failed save offers retry, save
elsewhere and export; quitting with unsaved changes asks instead of closing (the finding: 4 of 20 accepted
objects were lost when the window closed while saves failed)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QPushButton

from annotator.core.errors import ProjectFileError
from annotator.core.project_store import load_project
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def _disk_full(monkeypatch, store) -> object:
    real_save = type(store).save

    def full_disk(self) -> float:
        raise ProjectFileError(self.path, "cannot save: [Errno 28] No space left on device")

    monkeypatch.setattr(type(store), "save", full_disk)
    return real_save


def _accept(qtbot, window, x: int, y: int) -> None:
    click_image(qtbot, window, x, y)
    press(window, Qt.Key.Key_Return)


def _keep_working(qtbot, window) -> None:
    """Dismiss the failed-save box as the user does (it is window-modal)."""

    def shown() -> list[QMessageBox]:
        return [b for b in window.findChildren(QMessageBox, "save_failed_dialog") if b.isVisible()]

    for box in shown():
        qtbot.mouseClick(_button(box, "Keep working"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not shown())
    window.activateWindow()  # offscreen Qt does not hand activation back by itself
    qtbot.waitUntil(window.isActiveWindow)


def _button(box: QMessageBox, text: str) -> QPushButton:
    return next(b for b in box.findChildren(QPushButton) if b.text() == text)


def _answer_close_question(qtbot, window, text: str, seen: list[str]) -> None:
    """Click ``text`` in the close question once it is shown (it runs its own modal loop)."""

    def answer() -> None:
        shown = [b for b in window.findChildren(QMessageBox, "unsaved_on_close_dialog") if b.isVisible()]
        if not shown:
            QTimer.singleShot(20, answer)
            return
        box = shown[0]
        seen.append(box.text())
        qtbot.mouseClick(_button(box, text), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, answer)


def test_dirty_state_is_shown_until_a_save_succeeds(qtbot, make_window, image_folder, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    store = window.controller.autosaver.store
    assert not window.isWindowModified()
    real_save = _disk_full(monkeypatch, store)
    _accept(qtbot, window, 80, 60)
    assert window.isWindowModified()
    assert "Unsaved" in window.save_guard.label.text()
    assert "No space left" in window.save_guard.label.toolTip()
    box = window.findChild(QMessageBox, "save_failed_dialog")
    assert box is not None and box.isVisible()
    monkeypatch.setattr(type(store), "save", real_save)
    qtbot.mouseClick(_button(box, "Retry"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isWindowModified())
    assert window.save_guard.label.text() == ""
    assert len(load_project(store.path).image(window.controller.current_key).instances) == 1


def test_save_elsewhere_when_the_disk_refuses(
    qtbot, make_window, image_folder, tmp_path, monkeypatch
) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    store = window.controller.autosaver.store
    original = store.path
    real_save = _disk_full(monkeypatch, store)
    _accept(qtbot, window, 80, 60)
    monkeypatch.setattr(type(store), "save", real_save)
    other = tmp_path / "elsewhere" / "project.json"
    monkeypatch.setattr(window.save_guard, "choose_path", lambda: str(other))
    box = window.findChild(QMessageBox, "save_failed_dialog")
    qtbot.mouseClick(_button(box, "Save elsewhere…"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isWindowModified())
    assert store.path == other
    saved = load_project(other, root=image_folder)
    assert len(saved.image(window.controller.current_key).instances) == 1
    assert not original.exists()  # the refused location was not written behind the user's back


def test_quit_with_unsaved_changes_asks(qtbot, make_window, image_folder, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    store = c.autosaver.store
    _accept(qtbot, window, 80, 60)
    real_save = _disk_full(monkeypatch, store)
    for x, y in ((30, 25), (130, 25), (130, 95)):
        _accept(qtbot, window, x, y)
        _keep_working(qtbot, window)
    seen: list[str] = []
    _answer_close_question(qtbot, window, "Cancel", seen)
    window.close()
    assert seen and "No space left" in seen[0]
    assert window.isVisible() and not c.closed  # cancelled: nothing closed, nothing lost
    assert len(c.current_instances()) == 4

    _answer_close_question(qtbot, window, "Retry", seen)  # still full: asked again
    _answer_close_question(qtbot, window, "Cancel", seen)
    window.close()
    assert len(seen) == 3 and window.isVisible()
    monkeypatch.setattr(type(store), "save", real_save)  # space returns: closing saves everything
    window.close()
    assert c.closed and not window.isVisible()
    assert len(load_project(store.path).image(c.current_key).instances) == 4


def test_quit_without_saving_is_an_explicit_choice(qtbot, make_window, image_folder, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    store = window.controller.autosaver.store
    _disk_full(monkeypatch, store)
    _accept(qtbot, window, 80, 60)
    _keep_working(qtbot, window)
    seen: list[str] = []
    _answer_close_question(qtbot, window, "Quit without saving", seen)
    window.close()
    assert seen and window.controller.closed
