"""Download an official checkpoint in the background: a QThread worker over ``ModelManager.download``.

The core does the work (resume with ``Range``, SHA-256 check, atomic rename, retries); this module runs it as a
:class:`~annotator.workers.background.BackgroundTask`, forwards progress as :class:`DownloadProgress` snapshots
and turns the task's answer into one of ``finished(name, path)``, ``cancelled(name)`` or ``failed(name,
message)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.download import ChecksumMismatchError, DownloadCancelledError
from annotator.core.model_manager import ModelManager
from annotator.workers.background import BackgroundTask, TaskCancelled, TaskContext, TaskError

PROGRESS_INTERVAL_S = 0.1  # at most ten progress signals a second (the last one is always sent)


@dataclass(frozen=True)
class DownloadProgress:
    """``done`` of ``total`` bytes (``total`` ``None``: unknown); ``resumed_from``: bytes already there."""

    name: str
    done: int
    total: int | None
    resumed_from: int


class DownloadTask(QObject):
    """A background download of the official model ``name``; ``cancel()`` keeps the partial file to resume.

    Signals: ``progress(DownloadProgress)``, then exactly one of ``finished(name, path)``,
    ``failed(name, message)``, ``cancelled(name)``; ``done()`` after any of them, once the thread has stopped.
    """

    progress = Signal(object)
    finished = Signal(str, str)
    failed = Signal(str, str)
    cancelled = Signal(str)
    done = Signal()

    def __init__(self, manager: ModelManager, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.resumed_from = next((m.partial_bytes for m in manager.list_models() if m.name == name), 0)
        self._manager = manager
        self._last_emit = 0.0
        self._task = BackgroundTask(
            self._download, label=f"{name}: download", thread_name=f"download-{name}", parent=self
        )
        self._task.progressed.connect(self.progress)
        self._task.returned.connect(self._on_returned)
        self._task.errored.connect(self._on_errored)
        self._task.cancelled.connect(lambda: self.cancelled.emit(self.name))
        self._task.finished.connect(self.done)
        self._task.start()

    @property
    def running(self) -> bool:
        return self._task.running

    def cancel(self) -> None:
        """Ask the download to stop after the current chunk (answered by ``cancelled``)."""
        self._task.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for the thread (used when the dialog closes)."""
        self._task.shutdown()

    def _download(self, context: TaskContext) -> Path:  # worker thread
        def on_progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if done != total and now - self._last_emit < PROGRESS_INTERVAL_S:
                return
            self._last_emit = now
            context.progress(DownloadProgress(self.name, int(done), total, self.resumed_from))

        try:
            return self._manager.download(self.name, progress=on_progress, cancel=lambda: context.cancelled)
        except DownloadCancelledError:
            raise TaskCancelled from None

    @Slot(object)
    def _on_returned(self, path: Path) -> None:
        self.finished.emit(self.name, str(path))

    @Slot(object)
    def _on_errored(self, error: TaskError) -> None:
        message = error.message
        if isinstance(error.exception, ChecksumMismatchError):
            message += "\nNothing was installed; try the download again."
        self.failed.emit(self.name, message)
