"""Start worker threads in one place, so the app can stop them all and tests can check none is left running."""

from __future__ import annotations

import weakref

from PySide6.QtCore import QObject, QThread

_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()


def start_worker_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` to a new, started :class:`QThread` named ``name`` and return the thread.

    The worker is deleted (``deleteLater``) in its own thread when the thread finishes.
    """
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.finished.connect(worker.deleteLater)
    _THREADS.add(thread)
    thread.start()
    return thread


def stop_worker_thread(thread: QThread, timeout_ms: int = 30_000) -> bool:
    """Ask ``thread``'s event loop to quit and wait for it; returns whether it stopped within the timeout."""
    if not thread.isRunning():
        return True
    thread.quit()
    return bool(thread.wait(timeout_ms))


def running_worker_threads() -> list[str]:
    """Names of the worker threads started here that are still running."""
    return [t.objectName() for t in list(_THREADS) if t.isRunning()]
