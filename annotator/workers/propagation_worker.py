"""Background "Find similar": PerSAM propagation in its own thread with its own segmenter (ADR 0005).

Mirrors :mod:`annotator.workers.proposal_worker`: the interactive segment worker's predictor serves the
clicks and is not thread-safe, so this worker builds a *second* segmenter from the window's engine settings
(``EngineRequest``) for one job and drops it at the end. The GUI thread takes an immutable snapshot of the
request (reference image path, reference mask, category, target paths) so the worker never reads the live
project; results travel back as frozen :class:`ProposalDraft` tuples that the GUI puts into the review
queue, never into the annotations.

Cancel: ``PropagationJob.cancel`` (a ``threading.Event``) is polled by :func:`propagate` before every image
(and before the reference is encoded); a cancelled job ends with ``finished(job, True, "")``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.images import load_image
from annotator.core.propagation import (
    ImageLoader,
    ImageOutcome,
    PropagationOptions,
    cached_image_setter,
    propagate,
    require_sam,
)
from annotator.workers.background import JOB_ERRORS, task_error
from annotator.workers.requests import EngineRequest, SegmenterFactory, create_engine_segmenter

"""What ends a job with a message (an unusable checkpoint, reference or engine) instead of a traceback."""


"""A new segmenter for a request (SAM with a checkpoint, the classical engine without)."""


@dataclass(frozen=True)
class PropagationJob:
    """One "Find similar" run, as an immutable snapshot taken on the GUI thread.

    Attributes:
        job_id: the runner's number for this job (answers for older jobs are dropped).
        ref_key / ref_path: the reference image's project key and file.
        instance_id: the reference object (copied into every proposal's provenance).
        ref_mask: ``H x W`` bool mask of the reference object, read-only.
        category_id: the reference object's category (suggested for every proposal).
        targets: ``(image key, file path)`` of the images to search, in order (the reference excluded).
        engine: how to build the segmenter (must name a SAM checkpoint).
        options: PerSAM / PerSAM-F and the search's stop conditions.
        cache: the disk embedding cache to restore and store embeddings in, or ``None``.
        cancel: set from the GUI thread to stop the job before the next image.
    """

    job_id: int
    ref_key: str
    ref_path: Path
    instance_id: int
    ref_mask: np.ndarray
    category_id: int | None
    targets: tuple[tuple[str, Path], ...]
    engine: EngineRequest
    options: PropagationOptions = field(default_factory=PropagationOptions)
    cache: EmbeddingCache | None = field(default=None, compare=False)
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


class PropagationWorker(QObject):
    """Runs :class:`PropagationJob` s (a ``QObject`` living in its own thread; talk to it through signals).

    Signals:
        progress(int job, int images_done, int images_total): after the reference, then after each target.
        image_done(int job, str key, object drafts: tuple[ProposalDraft, ...]): proposals of one image
            (possibly none).
        image_failed(int job, str key, str message): this image was skipped (the job goes on).
        finished(int job, bool cancelled, str message): the job ended (``message`` non-empty: it failed).
    """

    progress = Signal(int, int, int)
    image_done = Signal(int, str, object)
    image_failed = Signal(int, str, str)
    finished = Signal(int, bool, str)

    def __init__(self, make_segmenter: SegmenterFactory = create_engine_segmenter) -> None:
        super().__init__()
        self._make_segmenter = make_segmenter

    @Slot(object)
    def run(self, job: PropagationJob) -> None:
        """Search every target image of ``job`` for the reference object (runs in the worker thread)."""
        try:
            predictor = require_sam(self._make_segmenter(job.engine))
            ref_rgb = load_image(job.ref_path).rgb
        except Exception as exc:  # one error path: known errors as they are, others with the traceback logged
            message = task_error(exc, f"starting from {job.ref_key}", JOB_ERRORS).message
            self.finished.emit(job.job_id, False, f"Cannot start finding similar objects: {message}")
            return
        total = len(job.targets)
        try:
            outcomes = propagate(
                predictor,
                ref_rgb,
                job.ref_mask,
                [(key, _loader(path)) for key, path in job.targets],
                options=job.options,
                category_id=job.category_id,
                provenance={"ref_image": job.ref_key, "ref_instance_id": job.instance_id},
                set_image=cached_image_setter(predictor, job.cache) if job.cache is not None else None,
                progress=lambda done, _total: self.progress.emit(job.job_id, done, total),
                cancel=job.cancel.is_set,
                total=total,
            )
            for outcome in outcomes:
                self._report(job.job_id, outcome)
        except Exception as exc:  # e.g. cv2.error: the same error path
            message = task_error(
                exc, f"propagation from {job.ref_key} #{job.instance_id}", JOB_ERRORS
            ).message
            self.finished.emit(job.job_id, False, f"Finding similar objects failed: {message}")
            return
        self.finished.emit(job.job_id, job.cancel.is_set(), "")

    def _report(self, job_id: int, outcome: ImageOutcome) -> None:
        if outcome.error is not None:
            self.image_failed.emit(job_id, outcome.file_name, outcome.error)
            return
        drafts = tuple(proposal.to_draft() for proposal in outcome.proposals)
        self.image_done.emit(job_id, outcome.file_name, drafts)


def _loader(path: Path) -> ImageLoader:
    return lambda: load_image(path).rgb
