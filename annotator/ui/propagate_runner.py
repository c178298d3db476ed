"""Runs "Find similar" jobs in a worker thread and feeds the results into the review queue (GUI thread side).

Mirrors :class:`annotator.ui.review_propose.ProposalRunner`: one thread per job (started through the thread
registry, stopped when the job ends or at shutdown), and a segmenter of its own in that thread. Proposals are
*added* to the target images' queues: undecided proposals of earlier runs (automatic proposals, other
references) stay, so finding a second kind of object never discards the first one's proposals.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.errors import CoreError
from annotator.core.propagation import PropagationOptions
from annotator.core.review import ReviewQueue
from annotator.workers.propagation_worker import (
    PropagationJob,
    PropagationWorker,
    SegmenterMaker,
    default_segmenter,
)
from annotator.workers.requests import EngineRequest, frozen_array
from annotator.workers.threads import start_worker_thread, stop_worker_thread


@dataclass
class RunTally:
    """What the current (or last) job did: proposals added, images that got some, images that failed."""

    proposals: int = 0
    images: int = 0
    failed: int = 0
    searched: int = 0


class PropagationRunner(QObject):
    """Starts, cancels and follows one "Find similar" job at a time.

    Signals:
        progress(int done, int total): target images searched so far.
        image_proposed(str key, int count): ``count`` proposals of ``key`` are in the queue.
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
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.make_segmenter = make_segmenter
        self.tally = RunTally()
        self._ids = itertools.count(1)
        self._job: PropagationJob | None = None
        self._thread: QThread | None = None
        self._worker: PropagationWorker | None = None

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(
        self,
        ref_key: str,
        instance_id: int,
        targets: list[str],
        engine: EngineRequest,
        options: PropagationOptions,
        *,
        cache: EmbeddingCache | None = None,
    ) -> int:
        """Search ``targets`` for object ``instance_id`` of ``ref_key`` in the background; returns the job id.

        Raises ``RuntimeError`` when a job is already running, ``ModelError`` for an unknown image or object.
        """
        if self.running:
            raise RuntimeError("a propagation job is already running")
        project = self.queue.project
        instance = project.image(ref_key).instance(instance_id)
        root = project.root
        job = PropagationJob(
            job_id=next(self._ids),
            ref_key=ref_key,
            ref_path=root / ref_key,
            instance_id=instance_id,
            ref_mask=frozen_array(instance.mask.array(), np.bool_),
            category_id=instance.category_id,
            targets=tuple((k, root / k) for k in targets if k != ref_key),
            engine=engine,
            options=options,
            cache=cache,
        )
        self._job = job
        self.tally = RunTally()
        worker = PropagationWorker(self.make_segmenter)
        worker.progress.connect(self._on_progress)
        worker.image_done.connect(self._on_image_done)
        worker.image_failed.connect(self._on_image_failed)
        worker.finished.connect(self._on_finished)
        self._run.connect(worker.run)
        self._worker = worker
        self._thread = start_worker_thread(worker, "propagation-worker")
        self._run.emit(job)
        return job.job_id

    def cancel(self) -> None:
        """Ask the job to stop before its next image."""
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

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._current(job_id):
            self.progress.emit(done, max(total, 1))

    @Slot(int, str, object)
    def _on_image_done(self, job_id: int, key: str, drafts: tuple) -> None:
        if not self._current(job_id) or not self.queue.project.has_image(key):
            return
        self.tally.searched += 1
        if not drafts:
            return
        try:
            self.queue.add_proposals(key, list(drafts), replace_pending=False)
        except CoreError as exc:
            self._on_image_failed(job_id, key, str(exc))
            return
        self.tally.proposals += len(drafts)
        self.tally.images += 1
        self.image_proposed.emit(key, len(drafts))

    @Slot(int, str, str)
    def _on_image_failed(self, job_id: int, key: str, message: str) -> None:
        if self._current(job_id):
            self.tally.failed += 1
            self.image_failed.emit(key, message)

    @Slot(int, bool, str)
    def _on_finished(self, job_id: int, cancelled: bool, message: str) -> None:
        if not self._current(job_id):
            return
        self._stop_thread()
        self._job = None
        self.finished.emit(cancelled, message)
