"""Folders in the window: File > Open recent, the last folder and image remembered (in the user settings), and
files added to or removed from the open folder picked up while it is open (a file watcher, and a rescan when
the window is activated). The rules are Qt-free: ``annotator.core.prefs`` and ``annotator.core.folder_sync``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QFileSystemWatcher, QObject, QTimer, Slot
from PySide6.QtWidgets import QMenu

from annotator.core.folder_sync import rescan_folder
from annotator.core.prefs import recent_folders, remember_folder, remember_image, update_settings
from annotator.core.settings import SettingsError, load_settings

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

RESCAN_DELAY_MS = 300  # a copy of many files is picked up once


class FolderView(QObject):
    """Recent folders, last folder/image and folder rescans for one main window."""

    def __init__(self, window: MainWindow, file_menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.folder = Path(self.controller.project.root)
        self.recent_menu = QMenu("Open &recent", window)
        self.recent_menu.setObjectName("recent_menu")
        self.recent_menu.aboutToShow.connect(self.fill_recent)
        if len(file_menu.actions()) > 1:
            file_menu.insertMenu(file_menu.actions()[1], self.recent_menu)
        else:
            file_menu.addMenu(self.recent_menu)
        self.fill_recent()
        self._say(update_settings(lambda s: remember_folder(s, self.folder)))
        self.controller.current_image_changed.connect(self.image_opened)

        self.rescan_timer = QTimer(self)
        self.rescan_timer.setSingleShot(True)
        self.rescan_timer.setInterval(RESCAN_DELAY_MS)
        self.rescan_timer.timeout.connect(self.rescan)
        self.watcher = QFileSystemWatcher([str(self.folder)], self)
        self.watcher.directoryChanged.connect(lambda _path: self.rescan_timer.start())
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.window and event.type() == QEvent.Type.WindowActivate:
            self.rescan_timer.start()  # back from another program: files may have changed
        return False

    @Slot(str)
    def image_opened(self, key: str) -> None:
        self._say(update_settings(lambda s: remember_image(s, self.folder, key)))

    @Slot()
    def rescan(self) -> None:
        saver = self.controller.autosaver
        with saver.paused() if saver is not None else contextlib.nullcontext():  # one save, not one per image
            report = rescan_folder(self.controller.project)
        for message in report.failed:
            self.window.statusBar().showMessage(message, 8000)
        if not report.changed:
            return
        self.window.file_list.set_records(self.controller.project.images)
        if self.controller.current_key is not None:
            self.window.file_list.set_current(self.controller.current_key)
        self.window.statusBar().showMessage(report.summary(), 10000)
        if self.controller.current_key is None and self.controller.image_keys:
            self.controller.step_image(+1)  # the folder was empty: show the first new image

    def fill_recent(self) -> None:
        self.recent_menu.clear()
        try:
            folders = [f for f in recent_folders(load_settings()) if f != self.folder]
        except SettingsError:
            folders = []
        for folder in folders:
            action = self.recent_menu.addAction(str(folder))
            action.setEnabled(folder.is_dir())
            action.triggered.connect(lambda _checked=False, f=folder: self.open(f))
        self.recent_menu.setEnabled(bool(folders))

    def open(self, folder: Path) -> None:
        from annotator.ui.app import reopen_folder

        reopen_folder(self.window, folder)

    def _say(self, error: str | None) -> None:
        if error is not None:
            self.window.statusBar().showMessage(error, 8000)
