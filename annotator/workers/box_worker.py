"""Background "Boxes to masks": box prompts in their own thread with their own segmenter (ADR 0005).

Like the proposal worker, it builds a segmenter of its own from the window's engine settings
(``EngineRequest``) for one job and drops it at the end. Each image is one call of
:func:`annotator.cli.box_job.segment_image_boxes` (the same unit of work as ``main.py boxes-to-masks``);
its masks travel to the GUI thread as frozen :class:`~annotator.core.review_proposal.ProposalDraft` tuples
(RLE masks), which the GUI puts in the review queue.

Cancel: ``BoxJob.cancel`` (a ``threading.Event``) is checked between batches of boxes and between images;
the masks of the batches already decoded are still delivered.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.box_objects import BoxImage
from annotator.core.embedding_cache import EmbeddingCache
from annotator.workers.background import JOB_ERRORS, task_error
from annotator.workers.requests import EngineRequest, SegmenterFactory, create_engine_segmenter


@dataclass(frozen=True)
class BoxJob:
    """One run: the images (with their boxes) under ``folder``, the engine to build, the cancel event, and
    the disk embedding cache to restore and store embeddings in (``None``: always encode)."""

    job_id: int
    folder: Path
    images: tuple[BoxImage, ...]
    engine: EngineRequest
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    cache: EmbeddingCache | None = field(default=None, compare=False)

    @property
    def box_count(self) -> int:
        return sum(len(image.prompts) for image in self.images)


class BoxWorker(QObject):
    """Runs :class:`BoxJob` s (a ``QObject`` living in its own thread; talk to it through signals).

    Signals:
        progress(int job, int boxes_done, int boxes_total)
        image_done(int job, str key, object drafts: tuple[ProposalDraft, ...], object notes: tuple[str, ...])
        image_failed(int job, str key, str message): this image was skipped (the job goes on).
        finished(int job, bool cancelled, str message): the job ended (``message`` non-empty: it failed).
    """

    progress = Signal(int, int, int)
    image_done = Signal(int, str, object, object)
    image_failed = Signal(int, str, str)
    finished = Signal(int, bool, str)

    def __init__(self, make_segmenter: SegmenterFactory = create_engine_segmenter) -> None:
        super().__init__()
        self._make_segmenter = make_segmenter

    @Slot(object)
    def run(self, job: BoxJob) -> None:
        """Segment every box of ``job`` (runs in the worker thread)."""
        from annotator.cli.box_job import cached_image_setter, segment_image_boxes

        try:
            segmenter = self._make_segmenter(job.engine)
        except Exception as exc:  # one error path: known errors as they are, others with the traceback logged
            message = task_error(exc, "loading the engine", JOB_ERRORS).message
            self.finished.emit(job.job_id, False, f"Cannot load the engine: {message}")
            return
        set_image = cached_image_setter(segmenter, job.cache) if job.cache is not None else None
        total = job.box_count
        done = 0
        self.progress.emit(job.job_id, 0, total)
        for image in job.images:
            if job.cancel.is_set():
                self.finished.emit(job.job_id, True, "")
                return
            first = done

            def progress(boxes_done: int, _boxes: int, first: int = first) -> None:
                self.progress.emit(job.job_id, first + boxes_done, total)

            try:
                result = segment_image_boxes(
                    segmenter, job.folder, image, set_image=set_image, progress=progress, cancel=job.cancel
                )
            except Exception as exc:  # e.g. cv2.error: skip the image, the job goes on
                message = task_error(exc, "segmenting", JOB_ERRORS).message
                self.image_failed.emit(job.job_id, image.file_name, message)
                continue
            done += len(image.prompts)
            if result.error is not None:
                self.image_failed.emit(job.job_id, image.file_name, result.error)
                continue
            drafts = tuple(p.to_draft() for p in result.proposals)
            self.image_done.emit(job.job_id, image.file_name, drafts, tuple(result.notes))
            if result.cancelled:
                self.finished.emit(job.job_id, True, "")
                return
            self.progress.emit(job.job_id, done, total)
        self.finished.emit(job.job_id, job.cancel.is_set(), "")
