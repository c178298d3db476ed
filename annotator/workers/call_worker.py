"""Run one blocking call (hash a checkpoint, load it to tell its architecture) off the GUI thread.

:class:`BackgroundCall` runs ``function()`` in a worker thread of its own (started through the thread
registry) and answers with exactly one of ``succeeded(result)`` or ``failed(message)``, then ``done()`` once
the thread has stopped. Errors a user can act on (``SamModelError``, ``CoreError``, ``OSError``) become their
message; anything else is logged with its traceback and reported with the call's ``label``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.errors import CoreError
from annotator.workers.threads import start_worker_thread, stop_worker_thread
from sam_model.errors import SamModelError

log = logging.getLogger(__name__)


class _CallJob(QObject):
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, function: Callable[[], Any], label: str) -> None:
        super().__init__()
        self._function = function
        self._label = label

    @Slot()
    def run(self) -> None:
        try:
            result = self._function()
        except (SamModelError, CoreError, OSError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # shown to the user, traceback in the log
            log.exception("%s failed", self._label)
            self.failed.emit(f"{self._label} failed: {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)


class BackgroundCall(QObject):
    """``function()`` in a thread named ``thread_name``; ``succeeded(object)`` or ``failed(str)``, then
    ``done()``. Keep a reference until ``done``; ``shutdown()`` waits for the call to end (a call cannot be
    interrupted)."""

    succeeded = Signal(object)
    failed = Signal(str)
    done = Signal()
    _start = Signal()

    def __init__(
        self, function: Callable[[], Any], *, label: str, thread_name: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.label = label
        self._job = _CallJob(function, label)
        self._job.succeeded.connect(self._on_succeeded)
        self._job.failed.connect(self._on_failed)
        self._start.connect(self._job.run)
        self.thread = start_worker_thread(self._job, thread_name)
        self._start.emit()

    def shutdown(self) -> None:
        """Wait for the call and stop the thread (e.g. the dialog closes)."""
        stop_worker_thread(self.thread)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        self.succeeded.emit(result)
        self._stop()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)
        self._stop()

    def _stop(self) -> None:
        stop_worker_thread(self.thread)
        self.done.emit()
