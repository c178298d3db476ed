"""Runs "Find similar" jobs in a worker thread and feeds the results into the review queue (GUI thread side).

Like :class:`annotator.ui.review_propose.ProposalRunner`, a
:class:`annotator.ui.job_runner.BackgroundJobRunner`: one thread per job (started through the thread registry,
stopped when the job ends or at shutdown), and a segmenter of its own in that thread. Proposals are *added*
to the target images' queues: undecided proposals of earlier runs (automatic proposals, other
references) stay, so finding a second kind of object never discards the first one's proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Slot

from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.review import ReviewQueue
from annotator.ui.job_runner import BackgroundJobRunner
from annotator.workers.requests import EngineRequest, SegmenterFactory, create_engine_segmenter, frozen_array

if TYPE_CHECKING:  # torch (PerSAM) is imported when a job starts, not when the window opens
    from annotator.core.propagation import PropagationOptions


@dataclass
class RunTally:
    """What the current (or last) job did: proposals added, images that got some, images that failed."""

    proposals: int = 0
    images: int = 0
    failed: int = 0
    searched: int = 0


class PropagationRunner(BackgroundJobRunner):
    """Starts, cancels and follows one "Find similar" job at a time.

    Signals: those of :class:`BackgroundJobRunner`; ``progress(done, total)`` counts target images searched.
    ``tally`` sums up the current (or last) job.
    """

    job_kind = "propagation"

    def __init__(
        self,
        queue: ReviewQueue,
        *,
        make_segmenter: SegmenterFactory = create_engine_segmenter,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(queue, make_segmenter, parent)
        self.tally = RunTally()

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
        self._check_idle()
        project = self.queue.project
        instance = project.image(ref_key).instance(instance_id)
        root = project.root
        from annotator.workers.propagation_worker import PropagationJob, PropagationWorker

        job = PropagationJob(
            job_id=self._next_id(),
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
        self.tally = RunTally()
        return self._launch(job, PropagationWorker(self.make_segmenter), "propagation-worker")

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._current(job_id):
            self.progress.emit(done, max(total, 1))

    @Slot(int, str, object)
    def _on_image_done(self, job_id: int, key: str, drafts: tuple) -> None:
        if not self._accepts(job_id, key):
            return
        self.tally.searched += 1
        if not drafts or not self._add_proposals(key, drafts, replace_pending=False):
            return
        self.tally.proposals += len(drafts)
        self.tally.images += 1
        self.image_proposed.emit(key, len(drafts))

    def _report_failure(self, key: str, message: str) -> None:
        self.tally.failed += 1
        super()._report_failure(key, message)
