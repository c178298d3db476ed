"""Feedback: a busy indicator while the worker loads an engine, encodes or decodes for the user, or a background
job runs; the window title "file name — 12 / 480"; status messages of the previous image cleared."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QLabel, QProgressBar

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

APP_TITLE = "SAM annotator"


def window_title(file_name: str | None, position: int, count: int, folder: str) -> str:
    """``"a.jpg — 12 / 480 — SAM annotator"``; without an image ``"SAM annotator — FOLDER"``."""
    if file_name is None:
        return f"{APP_TITLE} — {folder}"
    return f"{file_name} — {position} / {count} — {APP_TITLE}"


class BusyView(QObject):
    """The busy indicator and the title of one main window (its slots die with the window)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        c = self.controller = window.controller
        self.bar = QProgressBar()
        self.bar.setObjectName("busy_indicator")
        self.bar.setRange(0, 0)  # indeterminate: the moving bar
        self.bar.setMaximumWidth(110)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.label = QLabel("")
        self.label.setObjectName("busy_label")
        window.statusBar().insertPermanentWidget(0, self.bar)
        window.statusBar().insertPermanentWidget(0, self.label)
        self.runners: list = []
        c.client.busy_changed.connect(self.refresh)
        c.current_image_changed.connect(self.image_changed)
        c.project_event.connect(self.project_event)
        self.retitle()
        self.refresh()

    def watch_jobs(self) -> None:
        """Also follow the background jobs (review proposals, find similar): call once they exist."""
        for owner in ("review", "find_similar"):
            runner = getattr(getattr(self.window, owner, None), "runner", None)
            if runner is not None:
                self.runners.append(runner)
                runner.progress.connect(self.refresh)
                runner.finished.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self, *_args: object) -> None:
        client = self.controller.client
        text = client.busy
        if not text and any(r.running for r in self.runners):
            text = "Background job running…"
        self.bar.setVisible(bool(text))
        self.label.setVisible(bool(text))
        self.label.setText(text)
        # A click made while the image encodes waits: the pointer says so.
        viewport = self.window.canvas.viewport()
        if client.pending_decode and not client.image_ready:
            viewport.setCursor(Qt.CursorShape.BusyCursor)
        else:
            viewport.unsetCursor()

    def retitle(self) -> None:
        c = self.controller
        keys = c.image_keys
        key = c.current_key
        position = keys.index(key) + 1 if key in keys else 0
        self.window.setWindowTitle(window_title(key, position, len(keys), str(c.project.root)))

    @Slot(str)
    def image_changed(self, _key: str) -> None:
        self.window.statusBar().clearMessage()  # messages about the previous image are stale
        self.retitle()

    @Slot(object)
    def project_event(self, event: object) -> None:
        if getattr(event, "type", None) in ("image_added", "reset"):
            self.retitle()
