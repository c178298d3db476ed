"""Prefetch stepping of :class:`~annotator.workers.segment_worker.SegmentWorker` (ADR 0006).

:class:`PrefetchMixin` runs one prefetch *step* at a time (a transformer block for SAM, see
``prefetch.encode_steps``) so that the worker can look at its mailbox between steps; :class:`PrefetchTask` is
the encoding in progress. A prefetch outcome is reported as ``PREFETCH_ENCODED``, ``PREFETCH_CACHED`` or
``PREFETCH_FAILED``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from annotator.workers.prefetch import encode_steps, needs_restore
from annotator.workers.requests import EncodeRequest
from sam_model.errors import EmbeddingError, SamModelError
from sam_model.protocol import EncodeSteps, ImageEmbedding, Segmenter

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from annotator.workers.embedding_lru import EmbeddingLru
    from annotator.workers.segment_mailbox import Mailbox

log = logging.getLogger(__name__)

PREFETCH_ENCODED, PREFETCH_CACHED, PREFETCH_FAILED = 0, 1, -1


@dataclass
class PrefetchTask:
    """A prefetch encoding in progress: its request, the engine it runs on, and its remaining steps."""

    request: EncodeRequest
    model_id: str
    steps: EncodeSteps


class PrefetchMixin:
    """Encoding ahead, one step at a time, below the interactive requests (a part of ``SegmentWorker``)."""

    if TYPE_CHECKING:  # provided by SegmentWorker
        mailbox: Mailbox
        prefetched: SignalInstance
        _segmenter: Segmenter | None
        _lru: EmbeddingLru
        _current_image: str | None
        _current_embedding: ImageEmbedding | None
        _task: PrefetchTask | None

        def _disk_get(self, cache_key: str | None, model_id: str) -> ImageEmbedding | None: ...

        def _store_fresh(
            self, request: EncodeRequest, embedding: ImageEmbedding, *, prefetch: bool
        ) -> None: ...

    def _prefetch_step(self) -> bool:
        """Advance the prefetch by one step (or start the next one); ``False`` when there is nothing to do."""
        segmenter = self._segmenter
        task = self._task
        if task is not None and (
            segmenter is None
            or segmenter.model_id != task.model_id
            or not self.mailbox.wants_prefetch(task.request.image_id)
        ):
            self._task = task = None  # no longer wanted: drop the work done so far
        if task is None:
            request = self.mailbox.next_prefetch()
            if request is None:
                return False
            self._start_prefetch(request)
            return True
        try:
            next(task.steps)
            return True
        except StopIteration as stop:
            embedding: ImageEmbedding | None = stop.value
        except Exception as exc:  # a prefetch failure only costs the user a normal encode later
            log.warning("prefetch of %s failed: %s", task.request.image_id, exc, exc_info=True)
            embedding = None
        self._task = None
        self._restore_current()
        if embedding is None:
            self.prefetched.emit(task.request.image_id, PREFETCH_FAILED)
        else:
            self._store_fresh(task.request, embedding, prefetch=True)
            self.prefetched.emit(task.request.image_id, PREFETCH_ENCODED)
        return True

    def _start_prefetch(self, request: EncodeRequest) -> None:
        segmenter = self._segmenter
        if segmenter is None or request.image_id == self._current_image:
            return
        model_id = segmenter.model_id
        if self._lru.get(request.image_id, model_id) is not None:
            self.prefetched.emit(request.image_id, PREFETCH_CACHED)
            return
        cached = self._disk_get(request.cache_key, model_id)
        if cached is not None:
            self._lru.put(request.image_id, cached)
            self.prefetched.emit(request.image_id, PREFETCH_CACHED)
            return
        self._task = PrefetchTask(request, model_id, encode_steps(segmenter, request.rgb))

    def _restore_current(self) -> None:
        """Put the user's image back into an engine whose state a one-step prefetch replaced."""
        segmenter = self._segmenter
        if segmenter is None or not needs_restore(segmenter):
            return
        try:
            if self._current_embedding is None:
                raise EmbeddingError("no embedding of the current image to restore")
            segmenter.set_embedding(self._current_embedding)
        except SamModelError as exc:  # the next click on the current image encodes it again
            log.warning("cannot restore the current image after a prefetch: %s", exc)
            segmenter.reset_image()
            self._current_image = self._current_embedding = None
