"""Runs proposal jobs in a worker thread and feeds the results into the review queue (GUI thread side).

One thread per job (started through the thread registry, stopped when the job ends or at shutdown), so no
thread idles while nobody proposes. The proposal worker has its own segmenter (ADR 0005).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from annotator.core.errors import CoreError
from annotator.core.review import ReviewQueue
from annotator.workers.proposal_worker import (
    Generator,
    ProposalJob,
    ProposalWorker,
    SegmenterMaker,
    default_generator,
    default_segmenter,
)
from annotator.workers.requests import EngineRequest
from annotator.workers.threads import start_worker_thread, stop_worker_thread


class ProposalRunner(QObject):
    """Starts, cancels and follows one proposal job at a time.

    Signals:
        progress(int value, int maximum): overall progress (images x 100).
        image_proposed(str key, int count): proposals of ``key`` are in the queue.
        image_failed(str key, str message)
        finished(bool cancelled, str message): the job ended (``message``: why it failed, else empty).
    """

    progress = Signal(int, int)
    image_proposed = Signal(str, int)
    image_failed = Signal(str, str)
    finished = Signal(bool, str)
    _run = Signal(object)

    def __init__(
        self,
        queue: ReviewQueue,
        *,
        make_segmenter: SegmenterMaker = default_segmenter,
        generate: Generator = default_generator,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.make_segmenter = make_segmenter
        self.generate = generate
        self._ids = itertools.count(1)
        self._job: ProposalJob | None = None
        self._thread: QThread | None = None
        self._worker: ProposalWorker | None = None
        self._replace_pending = True
        self.proposed_images: list[str] = []

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(
        self,
        keys: list[str],
        engine: EngineRequest,
        params: dict[str, Any] | None = None,
        *,
        replace_pending: bool = True,
    ) -> int:
        """Propose objects for ``keys`` in the background; returns the job id. Raises ``RuntimeError`` when a
        job is already running."""
        if self.running:
            raise RuntimeError("a proposal job is already running")
        root: Path = self.queue.project.root
        job = ProposalJob(next(self._ids), tuple((k, root / k) for k in keys), engine, dict(params or {}))
        self._job = job
        self._replace_pending = replace_pending
        self.proposed_images = []
        worker = ProposalWorker(self.make_segmenter, self.generate)
        worker.progress.connect(self._on_progress)
        worker.image_done.connect(self._on_image_done)
        worker.image_failed.connect(self._on_image_failed)
        worker.finished.connect(self._on_finished)
        self._run.connect(worker.run)
        self._worker = worker
        self._thread = start_worker_thread(worker, "proposal-worker")
        self._run.emit(job)
        return job.job_id

    def cancel(self) -> None:
        """Ask the job to stop (between two batches of prompts, or between images)."""
        if self._job is not None:
            self._job.cancel.set()

    def shutdown(self) -> None:
        """Cancel and wait for the worker thread (on window close)."""
        self.cancel()
        self._stop_thread()
        self._job = None

    def _stop_thread(self) -> None:
        if self._worker is not None:
            self._run.disconnect(self._worker.run)
            self._worker = None
        if self._thread is not None:
            stop_worker_thread(self._thread)
            self._thread = None

    def _current(self, job_id: int) -> bool:
        return self._job is not None and self._job.job_id == job_id

    @Slot(int, int, int, float)
    def _on_progress(self, job_id: int, done: int, total: int, fraction: float) -> None:
        if self._current(job_id):
            self.progress.emit(int(done * 100 + fraction * 100), max(total, 1) * 100)

    @Slot(int, str, object)
    def _on_image_done(self, job_id: int, key: str, drafts: tuple) -> None:
        if not self._current(job_id) or not self.queue.project.has_image(key):
            return
        try:
            self.queue.add_proposals(key, list(drafts), replace_pending=self._replace_pending)
        except CoreError as exc:
            self.image_failed.emit(key, str(exc))
            return
        self.proposed_images.append(key)
        self.image_proposed.emit(key, len(drafts))

    @Slot(int, str, str)
    def _on_image_failed(self, job_id: int, key: str, message: str) -> None:
        if self._current(job_id):
            self.image_failed.emit(key, message)

    @Slot(int, bool, str)
    def _on_finished(self, job_id: int, cancelled: bool, message: str) -> None:
        if not self._current(job_id):
            return
        self._stop_thread()
        self._job = None
        self.finished.emit(cancelled, message)
