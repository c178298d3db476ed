"""GUI-thread side of the background proposal jobs ("Propose objects", "Find similar"), shared by both.

:class:`BackgroundJobRunner` runs one job at a time as a
:class:`~annotator.workers.background.BackgroundTask` (a thread of its own, stopped when the job ends or at
shutdown; a job that raises ends as failed with the task's message), answers of older jobs dropped by job id,
and the proposals a job finds added to the review queue. Subclasses build the job and the worker
(:meth:`BackgroundJobRunner._launch`) and say what progress and a finished image mean.

:func:`open_job_progress`, :func:`set_job_progress` and :func:`close_job_progress` handle the non-modal
progress dialog with Cancel that both commands show while their job runs.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from PySide6.QtCore import QObject, Qt, Signal, SignalInstance, Slot
from PySide6.QtWidgets import QApplication, QProgressDialog

from annotator.core.errors import CoreError
from annotator.core.review import ReviewQueue
from annotator.core.review_proposal import ProposalDraft
from annotator.workers.background import BackgroundTask, TaskContext, TaskError
from annotator.workers.requests import SegmenterFactory

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


class Job(Protocol):
    """What the runner needs of a job: its number and its cancel event."""

    @property
    def job_id(self) -> int: ...

    @property
    def cancel(self) -> threading.Event: ...


class JobWorker(Protocol):
    """A ``QObject`` whose ``run(job)`` is called in the task's thread; its signals (emitted there, queued to
    the GUI thread) carry the job id first."""

    progress: SignalInstance
    image_done: SignalInstance
    image_failed: SignalInstance
    finished: SignalInstance

    def run(self, job: Any) -> None: ...


class BackgroundJobRunner(QObject):
    """Starts, cancels and follows one background job at a time (base of the proposal runners).

    Signals:
        progress(int value, int maximum): the job's progress (its unit is the subclass's).
        image_proposed(str key, int count): ``count`` proposals of ``key`` are in the queue.
        image_failed(str key, str message)
        finished(bool cancelled, str message): the job ended (``message``: why it failed, else empty).
    """

    progress = Signal(int, int)
    image_proposed = Signal(str, int)
    image_failed = Signal(str, str)
    finished = Signal(bool, str)

    job_kind: ClassVar[str] = "background"
    """Named in the error of a second ``start`` while a job runs."""

    def __init__(
        self, queue: ReviewQueue, make_segmenter: SegmenterFactory, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.make_segmenter = make_segmenter
        self._ids = itertools.count(1)
        self._job: Job | None = None
        self._task: BackgroundTask | None = None

    @property
    def running(self) -> bool:
        return self._job is not None

    def cancel(self) -> None:
        """Ask the job to stop (the worker polls the job's cancel event)."""
        if self._job is not None:
            self._job.cancel.set()

    def shutdown(self) -> None:
        """Cancel and wait for the worker thread (on window close)."""
        self.cancel()
        self._stop_task()
        self._job = None

    # --- for subclasses ---------------------------------------------------------------------------------
    def _check_idle(self) -> None:
        """Raise ``RuntimeError`` when a job is already running."""
        if self.running:
            raise RuntimeError(f"a {self.job_kind} job is already running")

    def _next_id(self) -> int:
        return next(self._ids)

    def _launch(self, job: Job, worker: JobWorker, thread_name: str) -> int:
        """Make ``job`` the current one and run ``worker.run(job)`` in a new thread; returns the job id."""
        self._job = job
        worker.progress.connect(self._on_progress)
        worker.image_done.connect(self._on_image_done)
        worker.image_failed.connect(self._on_image_failed)
        worker.finished.connect(self._on_finished)

        def run(_context: TaskContext) -> None:
            worker.run(job)

        task = BackgroundTask(run, label=f"the {self.job_kind} job", thread_name=thread_name, parent=self)
        cast(QObject, worker).setParent(task)  # kept alive as long as the task
        task.errored.connect(lambda error: self._on_task_error(job.job_id, error))
        task.finished.connect(task.deleteLater)
        self._task = task.start()
        return job.job_id

    def _current(self, job_id: int) -> bool:
        return self._job is not None and self._job.job_id == job_id

    def _accepts(self, job_id: int, key: str) -> bool:
        """Whether an image answer is for the current job and an image still in the project."""
        return self._current(job_id) and self.queue.project.has_image(key)

    def _add_proposals(self, key: str, drafts: Sequence[ProposalDraft], *, replace_pending: bool) -> bool:
        """Put ``drafts`` into ``key``'s queue; a refusal is reported as a failed image (returns False)."""
        try:
            self.queue.add_proposals(key, list(drafts), replace_pending=replace_pending)
        except CoreError as exc:
            self._report_failure(key, str(exc))
            return False
        return True

    def _report_failure(self, key: str, message: str) -> None:
        """An image of the current job failed (overridden to count failures)."""
        self.image_failed.emit(key, message)

    def _on_progress(self, job_id: int, *args: Any) -> None:
        raise NotImplementedError

    def _on_image_done(self, job_id: int, key: str, drafts: tuple) -> None:
        raise NotImplementedError

    # --- internals --------------------------------------------------------------------------------------
    def _stop_task(self) -> None:
        if self._task is not None:
            self._task.shutdown()
            self._task = None

    def _on_task_error(self, job_id: int, error: TaskError) -> None:
        self._on_finished(job_id, False, error.message)

    @Slot(int, str, str)
    def _on_image_failed(self, job_id: int, key: str, message: str) -> None:
        if self._current(job_id):
            self._report_failure(key, message)

    @Slot(int, bool, str)
    def _on_finished(self, job_id: int, cancelled: bool, message: str) -> None:
        if not self._current(job_id):
            return
        self._stop_task()
        self._job = None
        self.finished.emit(cancelled, message)


def open_job_progress(
    window: MainWindow,
    text: str,
    maximum: int,
    *,
    name: str,
    title: str,
    cancel: Callable[[], None],
    value: int | None = None,
) -> QProgressDialog:
    """Show a non-modal progress dialog over ``window`` whose Cancel calls ``cancel``; returns it.

    ``value``: the initial value (``None``: none yet, the bar shows no percentage until the first progress).
    """
    dialog = QProgressDialog(text, "Cancel", 0, maximum, window)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    if value is not None:
        dialog.setValue(value)
    dialog.canceled.connect(cancel)
    dialog.show()
    return dialog


def set_job_progress(dialog: QProgressDialog | None, value: int, maximum: int) -> None:
    """Show ``value`` of ``maximum`` in ``dialog`` (nothing when there is no dialog)."""
    if dialog is not None:
        dialog.setMaximum(maximum)
        dialog.setValue(min(value, maximum))


def close_job_progress(dialog: QProgressDialog, window: MainWindow) -> None:
    """Close and delete ``dialog``; if it had the keyboard, give it back to the window (review keys,
    shortcuts)."""
    had_focus = dialog.isActiveWindow() or QApplication.activeWindow() is None
    dialog.close()
    dialog.deleteLater()
    if had_focus:
        window.activateWindow()
        window.canvas.setFocus()
