"""Start worker threads in one place, so the app can stop them all and tests can check none is left running.

Quitting fast: the application calls :func:`set_quit_wait` once; from then on :func:`stop_worker_thread` waits
at most that long for a thread busy with a long job (an encode), and *parks* a thread that is still running:
it is kept referenced here (a running ``QThread`` must not be destroyed) and finishes its job in the
background. :func:`parked_threads_running` tells the launcher whether the process must end without waiting for
them.
"""

from __future__ import annotations

import weakref

from PySide6.QtCore import QObject, QThread

_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()
_PARKED: list[QThread] = []  # told to stop, still finishing a job (kept alive until the process ends)
_quit_wait_ms: int | None = None


def set_quit_wait(wait_ms: int | None) -> None:
    """Wait at most ``wait_ms`` per thread when stopping threads (``None``: wait for the job to finish)."""
    global _quit_wait_ms
    _quit_wait_ms = wait_ms


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
    """Ask ``thread``'s event loop to quit and wait for it; returns whether it stopped within the timeout.

    After :func:`set_quit_wait` the wait is at most the quit wait, and a thread still running is parked.
    """
    if not thread.isRunning():
        return True
    thread.quit()
    quit_wait = _quit_wait_ms
    if thread.wait(timeout_ms if quit_wait is None else min(timeout_ms, quit_wait)):
        return True
    if quit_wait is not None and thread not in _PARKED:
        _PARKED.append(thread)
    return False


def parked_threads_running() -> list[str]:
    """Names of parked threads (told to stop, not waited for) that are still running."""
    return [t.objectName() for t in _PARKED if t.isRunning()]


def running_worker_threads() -> list[str]:
    """Names of the worker threads started here that are still running."""
    return [t.objectName() for t in list(_THREADS) if t.isRunning()]
