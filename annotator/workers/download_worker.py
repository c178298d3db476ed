"""Download an official checkpoint in the background: a QThread worker over ``ModelManager.download``.

The core does the work (resume with ``Range``, SHA-256 check, atomic rename, retries); this module only moves
it off the GUI thread, forwards progress as :class:`DownloadProgress` snapshots and turns the outcome into one
of ``finished(path)``, ``cancelled(name)`` or ``failed(name, message)``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.download import ChecksumMismatchError, DownloadCancelledError, DownloadError
from annotator.core.errors import CoreError
from annotator.core.model_manager import ModelManager
from annotator.workers.threads import start_worker_thread, stop_worker_thread

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1  # at most ten progress signals a second (the last one is always sent)


@dataclass(frozen=True)
class DownloadProgress:
    """``done`` of ``total`` bytes (``total`` ``None``: unknown); ``resumed_from``: bytes already there."""

    name: str
    done: int
    total: int | None
    resumed_from: int


class _DownloadJob(QObject):
    progress = Signal(object)
    finished = Signal(str, str)  # name, path
    failed = Signal(str, str)  # name, message
    cancelled = Signal(str)

    def __init__(self, manager: ModelManager, name: str, resumed_from: int, cancel: threading.Event) -> None:
        super().__init__()
        self._manager = manager
        self._name = name
        self._resumed_from = resumed_from
        self._cancel = cancel
        self._last_emit = 0.0

    def _on_progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done != total and now - self._last_emit < PROGRESS_INTERVAL_S:
            return
        self._last_emit = now
        self.progress.emit(DownloadProgress(self._name, int(done), total, self._resumed_from))

    @Slot()
    def run(self) -> None:
        name = self._name
        try:
            path = self._manager.download(name, progress=self._on_progress, cancel=self._cancel.is_set)
        except DownloadCancelledError:
            self.cancelled.emit(name)
        except ChecksumMismatchError as exc:
            self.failed.emit(name, f"{exc}\nNothing was installed; try the download again.")
        except (DownloadError, CoreError, OSError) as exc:  # network, disk, or a bad model name
            self.failed.emit(name, str(exc))
        except Exception as exc:  # shown to the user, traceback in the log
            log.exception("download of %s failed", name)
            self.failed.emit(name, f"{name}: download failed: {exc}")
        else:
            self.finished.emit(name, str(path))


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
    _start = Signal()

    def __init__(self, manager: ModelManager, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.resumed_from = next((m.partial_bytes for m in manager.list_models() if m.name == name), 0)
        self._cancel = threading.Event()
        self._job = _DownloadJob(manager, name, self.resumed_from, self._cancel)
        self._job.progress.connect(self.progress)
        self._job.finished.connect(self._on_finished)
        self._job.failed.connect(self._on_failed)
        self._job.cancelled.connect(self._on_cancelled)
        self._start.connect(self._job.run)
        self.thread = start_worker_thread(self._job, f"download-{name}")
        self._start.emit()

    @property
    def running(self) -> bool:
        return self.thread.isRunning()

    def cancel(self) -> None:
        """Ask the download to stop after the current chunk (answered by ``cancelled``)."""
        self._cancel.set()

    def shutdown(self) -> None:
        """Cancel and wait for the thread (used when the dialog closes)."""
        self._cancel.set()
        stop_worker_thread(self.thread)

    def _stop(self) -> None:
        stop_worker_thread(self.thread)
        self.done.emit()

    @Slot(str, str)
    def _on_finished(self, name: str, path: str) -> None:
        self.finished.emit(name, path)
        self._stop()

    @Slot(str, str)
    def _on_failed(self, name: str, message: str) -> None:
        self.failed.emit(name, message)
        self._stop()

    @Slot(str)
    def _on_cancelled(self, name: str) -> None:
        self.cancelled.emit(name)
        self._stop()
