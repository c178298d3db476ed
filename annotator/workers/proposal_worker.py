"""Background object proposals: a worker in its own thread with its own segmenter (ADR 0005).

A predictor is not thread-safe and the segment worker's one serves the interactive clicks, so the proposal
worker builds a *second* segmenter from the same engine settings (``EngineRequest``: checkpoint, device,
dtype) in its own thread, uses it for one job (a list of images) and drops it at the end, so its memory is
held only while proposing. Results travel to the GUI thread as frozen :class:`ProposalDraft` lists (RLE
masks); the GUI puts them in the review queue, never straight into the annotations.

Cancel: ``ProposalJob.cancel`` (a ``threading.Event``) is passed to the generator as ``cancel=`` (SAM's
generator stops between two batches of prompts) and checked between images.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.images import load_image
from annotator.core.review_proposal import ProposalDraft, draft_from_record
from annotator.workers.background import JOB_ERRORS, task_error
from annotator.workers.requests import EngineRequest, SegmenterFactory, create_engine_segmenter
from sam_model.protocol import Segmenter

Generator = Callable[..., list[dict[str, Any]]]
"""``generate(segmenter, rgb, **params) -> records`` (``sam_model.classic.auto.generate_proposals``)."""


def proposal_segmenter(request: EngineRequest) -> Segmenter:
    """The segmenter a proposal job hands its generator: the app's engine with a checkpoint; without one the
    classical engine in this process, since its proposals (``ClassicProposals``) never decode through it, so
    the app's child-process engine (started for a GIL-free click) would be started for nothing."""
    if request.checkpoint is None:
        from sam_model.classic.segmenter import ClassicSegmenter

        return ClassicSegmenter()
    return create_engine_segmenter(request)


def default_generator(segmenter: Segmenter, rgb: Any, **params: Any) -> list[dict[str, Any]]:
    from sam_model.classic.auto import generate_proposals

    return generate_proposals(segmenter, rgb, **params)


@dataclass(frozen=True)
class ProposalJob:
    """One run: ``items`` are ``(image key, file path)``; ``params`` go to the generator."""

    job_id: int
    items: tuple[tuple[str, Path], ...]
    engine: EngineRequest
    params: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


class ProposalWorker(QObject):
    """Runs :class:`ProposalJob` s (a ``QObject`` living in its own thread; talk to it through signals).

    Signals:
        progress(int job, int images_done, int images_total, float fraction_of_current_image)
        image_done(int job, str key, object drafts: tuple[ProposalDraft, ...])
        image_failed(int job, str key, str message): this image was skipped (the job goes on).
        finished(int job, bool cancelled, str message): the job ended (``message`` non-empty: it failed).
    """

    progress = Signal(int, int, int, float)
    image_done = Signal(int, str, object)
    image_failed = Signal(int, str, str)
    finished = Signal(int, bool, str)

    def __init__(
        self,
        make_segmenter: SegmenterFactory = proposal_segmenter,
        generate: Generator = default_generator,
    ) -> None:
        super().__init__()
        self._make_segmenter = make_segmenter
        self._generate = generate

    @Slot(object)
    def run(self, job: ProposalJob) -> None:
        """Propose objects for every image of ``job`` (runs in the worker thread)."""
        try:
            segmenter = self._make_segmenter(job.engine)
        except Exception as exc:  # one error path: known errors as they are, others with the traceback logged
            message = task_error(exc, "loading the engine", JOB_ERRORS).message
            self.finished.emit(job.job_id, False, f"Cannot load the engine for proposals: {message}")
            return
        source = "auto-sam" if callable(getattr(segmenter, "predict_torch", None)) else "auto-classic"
        total = len(job.items)
        for done, (key, path) in enumerate(job.items):
            if job.cancel.is_set():
                self.finished.emit(job.job_id, True, "")
                return
            self.progress.emit(job.job_id, done, total, 0.0)
            try:
                drafts = self._propose(job, segmenter, source, key, path, done, total)
            except _Cancelled:
                self.finished.emit(job.job_id, True, "")
                return
            except Exception as exc:  # e.g. cv2.error: skip the image, the job goes on
                self.image_failed.emit(job.job_id, key, task_error(exc, "proposing", JOB_ERRORS).message)
                continue
            self.image_done.emit(job.job_id, key, drafts)
        self.progress.emit(job.job_id, total, total, 0.0)
        self.finished.emit(job.job_id, False, "")

    def _propose(
        self, job: ProposalJob, segmenter: Segmenter, source: str, key: str, path: Path, done: int, total: int
    ) -> tuple[ProposalDraft, ...]:
        from sam_model.automatic.generator import GenerationCancelled

        rgb = load_image(path).rgb
        started = time.perf_counter()

        def progress(step: int, steps: int) -> None:
            self.progress.emit(job.job_id, done, total, step / steps if steps else 0.0)

        params = {"output_mode": "coco_rle", **job.params, "progress": progress, "cancel": job.cancel}
        try:
            records = self._generate(segmenter, rgb, **params)
        except GenerationCancelled:
            raise _Cancelled from None
        if job.cancel.is_set():
            raise _Cancelled
        seconds = round(time.perf_counter() - started, 2)
        facts = {k: v for k, v in job.params.items() if isinstance(v, int | float | str | bool)}
        engine = Path(job.engine.checkpoint).name if job.engine.checkpoint else "classic"
        return tuple(
            draft_from_record(record, source, engine=engine, seconds=seconds, **facts) for record in records
        )


class _Cancelled(Exception):
    """Internal: the job's cancel event fired inside one image."""
