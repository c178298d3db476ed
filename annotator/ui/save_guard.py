"""Unsaved work is never lost silently: the dirty state is shown, a failed save offers retry / save elsewhere /
export, and closing the window with unsaved changes asks first (issue 15, ADR 0009).

The autosaver (core) saves after every change; this object only watches its ``saved``/``save_failed`` events
and talks to the user. It holds no annotation state.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox

from annotator.core.errors import ProjectFileError
from annotator.core.events import Event
from annotator.core.project_store import Autosaver


class SaveGuard(QObject):
    """Shows and resolves save problems of ``window``'s autosaver (``window.controller.autosaver``)."""

    RETRY = "Retry"
    ELSEWHERE = "Save elsewhere…"
    EXPORT = "Export…"

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.autosaver: Autosaver | None = window.controller.autosaver  # type: ignore[attr-defined]
        self.last_error = ""
        self.label = QLabel("")
        self.label.setObjectName("unsaved_label")
        window.statusBar().addPermanentWidget(self.label)
        if self.autosaver is not None:
            self.autosaver.events.connect(self._on_event)
        self._show_state()

    @property
    def dirty(self) -> bool:
        return self.autosaver is not None and self.autosaver.dirty

    def _on_event(self, event: Event) -> None:
        if event.type == "save_failed":
            self.last_error = str(event.info["error"])
        elif event.type == "saved":
            self.last_error = ""
        self._show_state()

    def _show_state(self) -> None:
        dirty = self.dirty
        self.window.setWindowModified(dirty)
        self.label.setText("● Unsaved changes" if dirty else "")
        self.label.setToolTip(self.last_error)

    # --- a failed autosave ----------------------------------------------------------------------------
    def show_failure(self, text: str) -> None:
        """The window-modal box of a failed save (updated, not stacked, while it is open)."""
        for box in self.window.findChildren(QMessageBox, "save_failed_dialog"):
            if box.isVisible():
                box.setText(self._failure_text(text))
                return
        box = self._box(text, QMessageBox.StandardButton.Ok)
        box.button(QMessageBox.StandardButton.Ok).setText("Keep working")
        box.setObjectName("save_failed_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda button: self._resolve(box.buttonRole(button), button.text()))
        box.open()

    def _failure_text(self, text: str) -> str:
        return (
            f"{text}\n\nYour changes are kept in memory and saved with the next change once the disk "
            "accepts writes. You can retry now, save the project to another file, or export COCO."
        )

    def _box(self, text: str, *buttons: QMessageBox.StandardButton) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Warning, "Cannot save the project", self._failure_text(text))
        box.setParent(self.window, box.windowFlags())
        for name in (self.RETRY, self.ELSEWHERE, self.EXPORT):
            box.addButton(name, QMessageBox.ButtonRole.ActionRole)
        for button in buttons:
            box.addButton(button)
        return box

    def _resolve(self, role: QMessageBox.ButtonRole, text: str) -> bool:
        """Run the choice ``text`` of a save box; returns whether everything is saved afterwards."""
        if role != QMessageBox.ButtonRole.ActionRole or self.autosaver is None:
            return not self.dirty
        if text == self.RETRY:
            self.autosaver.flush()  # a new failure comes back as a save_failed event (the box again)
        elif text == self.ELSEWHERE:
            self.save_elsewhere()
        elif text == self.EXPORT:
            self.window.ask_export()  # type: ignore[attr-defined]
        self._show_state()
        return not self.dirty

    def choose_path(self) -> str:
        """Ask for the new project file (a method so tests can answer without a native dialog)."""
        start = str(Path.home() / "project.json")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project as", start, "Project (*.json)")
        return path

    def save_elsewhere(self) -> bool:
        """Bind the project to another file and save it there; later autosaves go there too."""
        if self.autosaver is None:
            return False
        path = self.choose_path()
        if not path:
            return False
        store = self.autosaver.store
        old = store.path
        store.path = Path(path)
        try:
            store.save()
        except ProjectFileError as exc:
            store.path = old
            self.last_error = str(exc)
            self._show_state()
            return False
        self.autosaver.dirty = False
        self.last_error = ""
        self.window.statusBar().showMessage(f"Project saved to {path}; changes are saved there from now on")
        self._show_state()
        return True

    def _save_quietly(self) -> bool:
        """Save now without raising events (the close question shows the result itself)."""
        assert self.autosaver is not None
        try:
            self.autosaver.store.save()
        except ProjectFileError as exc:
            self.last_error = str(exc)
            return False
        self.autosaver.dirty = False
        self.autosaver.store.needs_save = False
        self.last_error = ""
        self._show_state()
        return True

    # --- closing --------------------------------------------------------------------------------------
    def confirm_close(self) -> bool:
        """Before the window closes: save what is pending; if that fails, ask (retry, save elsewhere,
        export, quit without saving, cancel). Returns whether the window may close."""
        if self.autosaver is None or not self.autosaver.dirty or self._save_quietly():
            return True
        while True:
            box = self._box(
                f"Unsaved changes: {self.last_error}",
                QMessageBox.StandardButton.Discard,
                QMessageBox.StandardButton.Cancel,
            )
            box.setObjectName("unsaved_on_close_dialog")
            box.button(QMessageBox.StandardButton.Discard).setText("Quit without saving")
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            box.exec()
            clicked = box.clickedButton()
            choice = box.standardButton(clicked) if clicked is not None else QMessageBox.StandardButton.Cancel
            text = clicked.text() if clicked is not None else ""
            role = box.buttonRole(clicked) if clicked is not None else QMessageBox.ButtonRole.RejectRole
            box.deleteLater()
            if choice == QMessageBox.StandardButton.Discard:
                self.autosaver.dirty = False  # the user chose to drop the changes: no save at shutdown
                return True
            if choice == QMessageBox.StandardButton.Cancel or clicked is None:
                return False
            if text == self.RETRY:
                if self._save_quietly():
                    return True
            elif self._resolve(role, text):
                return True
