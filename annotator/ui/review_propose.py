"""Runs proposal jobs in a worker thread and feeds the results into the review queue (GUI thread side).

One thread per job (:class:`annotator.ui.job_runner.BackgroundJobRunner`: started through the thread
registry, stopped when the job ends or at shutdown), so no thread idles while nobody proposes. The proposal
worker has its own segmenter (ADR 0005); cancelling stops it between two batches of prompts or between
images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Slot

from annotator.core.review import ReviewQueue
from annotator.ui.job_runner import BackgroundJobRunner
from annotator.workers.proposal_worker import (
    Generator,
    ProposalJob,
    ProposalWorker,
    default_generator,
    proposal_segmenter,
)
from annotator.workers.requests import EngineRequest, SegmenterFactory


class ProposalRunner(BackgroundJobRunner):
    """Starts, cancels and follows one proposal job at a time.

    Signals: those of :class:`BackgroundJobRunner`; ``progress(value, maximum)`` is the overall progress in
    hundredths of an image (images x 100, the current image's fraction included).
    """

    job_kind = "proposal"

    def __init__(
        self,
        queue: ReviewQueue,
        *,
        make_segmenter: SegmenterFactory = proposal_segmenter,
        generate: Generator = default_generator,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(queue, make_segmenter, parent)
        self.generate = generate
        self._replace_pending = True
        self.proposed_images: list[str] = []

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
        self._check_idle()
        root: Path = self.queue.project.root
        job = ProposalJob(self._next_id(), tuple((k, root / k) for k in keys), engine, dict(params or {}))
        self._replace_pending = replace_pending
        self.proposed_images = []
        return self._launch(job, ProposalWorker(self.make_segmenter, self.generate), "proposal-worker")

    @Slot(int, int, int, float)
    def _on_progress(self, job_id: int, done: int, total: int, fraction: float) -> None:
        if self._current(job_id):
            self.progress.emit(int(done * 100 + fraction * 100), max(total, 1) * 100)

    @Slot(int, str, object)
    def _on_image_done(self, job_id: int, key: str, drafts: tuple) -> None:
        if not self._accepts(job_id, key):
            return
        if not self._add_proposals(key, drafts, replace_pending=self._replace_pending):
            return
        self.proposed_images.append(key)
        self.image_proposed.emit(key, len(drafts))
