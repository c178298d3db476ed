"""The one worker primitive of the app: jobs run in a thread of their own and answer with typed signals.

A *job* is a plain function ``function(context) -> result`` (or a generator function: each value it yields is a
progress report, its ``return`` value the result). It runs in the thread of a :class:`BackgroundWorker`
(long-lived, jobs one after another, optionally only the newest pending one) or of a :class:`BackgroundTask`
(one job, then the thread stops). The GUI thread hears exactly one answer per job:

* ``returned(result)``: the job finished;
* ``errored(TaskError)``: the job raised. This is the one error path: the error becomes a :class:`TaskError`
  whose ``message`` a user can act on (the exception's text for the errors in ``user_errors``, the job's label
  and the exception otherwise, with the traceback in the log), and the exception itself for callers that refine
  the text. Nothing is swallowed;
* ``cancelled()``: :meth:`cancel` was called and the job stopped (it raised :class:`TaskCancelled`, or a
  generator job was between two yields).

``progressed(value)`` carries what a job yields or passes to :meth:`TaskContext.progress`. Threads are started
and stopped through :mod:`annotator.workers.threads` (quit on exit, the leak check of the tests). See ADR 0011.
"""

from __future__ import annotations

import collections
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.errors import CoreError
from annotator.workers.threads import start_worker_thread, stop_worker_thread
from sam_model.errors import SamModelError

log = logging.getLogger(__name__)

USER_ERRORS: tuple[type[BaseException], ...] = (CoreError, SamModelError, OSError)
"""Errors whose text names the file and the reason: shown as they are."""

JOB_ERRORS: tuple[type[BaseException], ...] = (*USER_ERRORS, RuntimeError, ValueError, MemoryError)
"""Inside a batch job (proposals, find similar, boxes to masks), also the model's and NumPy's own errors are
shown as they are: one image's failure is reported by its message and the job goes on."""


class TaskCancelled(Exception):
    """Raised by a job to end as cancelled (answered by ``cancelled``, not ``errored``)."""


@dataclass(frozen=True)
class TaskError:
    """A job that raised: ``message`` for the user, ``exception`` for callers that refine it."""

    label: str
    message: str
    exception: BaseException = field(repr=False)


def task_error(exc: BaseException, label: str, user_errors: tuple[type[BaseException], ...]) -> TaskError:
    """The :class:`TaskError` of ``exc`` raised by the job ``label`` (unexpected errors are logged)."""
    if isinstance(exc, user_errors):
        return TaskError(label, str(exc), exc)
    log.error("%s failed", label, exc_info=exc)
    return TaskError(label, f"{label} failed: {type(exc).__name__}: {exc}", exc)


class TaskContext:
    """What a job sees in its thread: whether it was cancelled, and a way to report progress."""

    def __init__(self, cancel: threading.Event, report: Callable[[object], None]) -> None:
        self._cancel = cancel
        self._report = report

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` when the job was cancelled."""
        if self._cancel.is_set():
            raise TaskCancelled

    def progress(self, value: object) -> None:
        """Send ``value`` to the GUI thread (``progressed``)."""
        self._report(value)


Job = Callable[[TaskContext], Any]


@dataclass
class _Entry:
    ticket: object
    function: Job
    label: str
    cancel: threading.Event = field(default_factory=threading.Event)


class _Runner(QObject):
    """Lives in the worker thread: drains the mailbox, runs each job, emits its one answer."""

    progressed = Signal(object, object)  # ticket, value
    returned = Signal(object, object)  # ticket, result
    errored = Signal(object, object)  # ticket, TaskError
    cancelled = Signal(object)  # ticket

    def __init__(self, latest_only: bool, user_errors: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self._latest_only = latest_only
        self._user_errors = user_errors
        self._lock = threading.Lock()
        self._pending: collections.deque[_Entry] = collections.deque()
        self._current: _Entry | None = None

    def put(self, entry: _Entry) -> None:  # GUI thread
        with self._lock:
            if self._latest_only:
                self._pending.clear()
            self._pending.append(entry)

    def drop_waiting(self) -> None:  # GUI thread
        with self._lock:
            self._pending.clear()

    def cancel_all(self) -> None:  # GUI thread
        with self._lock:
            for entry in self._pending:
                entry.cancel.set()
            if self._current is not None:
                self._current.cancel.set()

    @Slot()
    def drain(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._current = None
                    return
                entry = self._current = self._pending.popleft()
            self._run(entry)

    def _run(self, entry: _Entry) -> None:
        ticket = entry.ticket
        context = TaskContext(entry.cancel, lambda value: self.progressed.emit(ticket, value))
        try:
            context.check_cancelled()
            result = entry.function(context)
            if inspect.isgenerator(result):
                result = self._iterate(result, context, ticket)
        except TaskCancelled:
            self.cancelled.emit(ticket)
        except Exception as exc:  # the one error path: a typed answer, never swallowed
            self.errored.emit(ticket, task_error(exc, entry.label, self._user_errors))
        else:
            self.returned.emit(ticket, result)

    def _iterate(self, generator: Any, context: TaskContext, ticket: object) -> Any:
        """Run a generator job: each yielded value is progress; cancelled between two yields."""
        try:
            while True:
                context.check_cancelled()
                self.progressed.emit(ticket, next(generator))
        except StopIteration as stop:
            return stop.value
        finally:
            generator.close()


class BackgroundWorker(QObject):
    """A worker thread of its own running submitted jobs one after another (GUI-thread handle).

    ``latest_only``: a new job replaces the jobs still waiting (pages flipped quickly are skipped); the
    running one is not interrupted. Every answer carries the ticket given to :meth:`submit`.

    Signals: ``progressed(ticket, value)``, then exactly one of ``returned(ticket, result)``,
    ``errored(ticket, TaskError)`` or ``cancelled(ticket)`` per job.
    """

    progressed = Signal(object, object)
    returned = Signal(object, object)
    errored = Signal(object, object)
    cancelled = Signal(object)
    _wake = Signal()

    def __init__(
        self,
        *,
        name: str,
        latest_only: bool = False,
        user_errors: tuple[type[BaseException], ...] = USER_ERRORS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self._runner = _Runner(latest_only, user_errors)
        self._runner.progressed.connect(self.progressed)
        self._runner.returned.connect(self.returned)
        self._runner.errored.connect(self.errored)
        self._runner.cancelled.connect(self.cancelled)
        self._wake.connect(self._runner.drain)
        self._thread = start_worker_thread(self._runner, name)

    @property
    def running(self) -> bool:
        """Whether the worker thread runs (until :meth:`shutdown`)."""
        return self._thread.isRunning()

    def submit(self, ticket: object, function: Job, *, label: str | None = None) -> None:
        """Run ``function(context)`` in the worker thread; ``label`` names the job in unexpected errors."""
        self._runner.put(_Entry(ticket, function, label or self.name))
        self._wake.emit()

    def cancel(self) -> None:
        """Cancel the running job and the waiting ones (each answers ``cancelled`` when it notices)."""
        self._runner.cancel_all()

    def drop_waiting(self) -> None:
        """Forget the jobs not started yet (they get no answer); the running one goes on."""
        self._runner.drop_waiting()

    def shutdown(self) -> None:
        """Drop the waiting jobs, cancel the running one and stop the thread (waits for it to end; see
        ``stop_worker_thread``)."""
        self.drop_waiting()
        self.cancel()
        stop_worker_thread(self._thread)


class BackgroundTask(QObject):
    """One job in a thread of its own; the thread stops after the job.

    Signals: ``progressed(value)``, then exactly one of ``returned(result)``, ``errored(TaskError)``,
    ``cancelled()``; then ``finished()`` once the thread has stopped. Connect them, then :meth:`start`.
    """

    progressed = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(
        self,
        function: Job,
        *,
        label: str,
        thread_name: str,
        user_errors: tuple[type[BaseException], ...] = USER_ERRORS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.label = label
        self._function = function
        self._thread_name = thread_name
        self._user_errors = user_errors
        self._worker: BackgroundWorker | None = None
        self._ended = False

    def start(self) -> BackgroundTask:
        """Start the job (once); returns the task."""
        if self._worker is not None or self._ended:
            raise RuntimeError(f"{self.label}: the task was already started")
        worker = BackgroundWorker(name=self._thread_name, user_errors=self._user_errors, parent=self)
        worker.progressed.connect(self._on_progressed)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.cancelled.connect(self._on_cancelled)
        self._worker = worker
        worker.submit(None, self._function, label=self.label)
        return self

    @property
    def running(self) -> bool:
        """Started and not answered yet."""
        return self._worker is not None and not self._ended

    def cancel(self) -> None:
        """Ask the job to stop (answered by ``cancelled`` when it notices, or by its result)."""
        if self._worker is not None:
            self._worker.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for the thread (e.g. the dialog that owns the task closes)."""
        if self._worker is not None:
            self._worker.shutdown()

    @Slot(object, object)
    def _on_progressed(self, _ticket: object, value: object) -> None:
        self.progressed.emit(value)

    @Slot(object, object)
    def _on_returned(self, _ticket: object, result: object) -> None:
        self._end(self.returned, result)

    @Slot(object, object)
    def _on_errored(self, _ticket: object, error: object) -> None:
        self._end(self.errored, error)

    @Slot(object)
    def _on_cancelled(self, _ticket: object) -> None:
        self._end(self.cancelled)

    def _end(self, signal: Any, *args: object) -> None:
        if self._ended:
            return
        self._ended = True
        signal.emit(*args)
        if self._worker is not None:
            self._worker.shutdown()
        self.finished.emit()
