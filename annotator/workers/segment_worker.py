"""The segment worker: a QObject living in its own QThread that owns the segmenter.

The GUI thread talks to it only through :class:`SegmentClient` (see ``segment_client.py``): requests go into a
lock-protected :class:`~annotator.workers.segment_mailbox.Mailbox` and a queued ``wake`` signal makes the
worker drain it; answers come back as signals. The mailbox keeps only what is still useful: the newest engine
request, the newest encode request, and per image only the newest decode request (it carries all the prompts),
so clicks made while an image encodes are decoded once, when the encoding finishes.

Embeddings come from, in order: the in-memory LRU, the ``disk_cache`` (an :class:`EmbeddingStore`;
:class:`DiskCacheStore` adapts ``annotator.core.embedding_cache.EmbeddingCache``, keyed by the pixels' hash;
both in ``embedding_store.py``), then ``set_image``. Fresh embeddings go into both caches. A cached embedding
the engine rejects is discarded and recomputed.

Prefetch (ADR 0006): below the interactive requests, the mailbox holds a queue of images to encode ahead
(``put_prefetch``, only for ids of the current plan, ``set_prefetch_plan``). The worker runs one prefetch
*step* at a time (a transformer block for SAM, see ``prefetch.encode_steps``) and looks at the mailbox between
steps, so a click waits for at most one step. A prefetch in progress for the image the user then opens is
finished instead of restarted. The stepping lives in ``segment_prefetch.py`` (:class:`PrefetchMixin`, with the
``PREFETCH_*`` outcomes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.embedding_cache import image_key
from annotator.workers.background import JOB_ERRORS, task_error
from annotator.workers.embedding_lru import EmbeddingLru
from annotator.workers.embedding_store import DiskCacheStore, EmbeddingStore
from annotator.workers.mask_outline import trace_outline
from annotator.workers.prefetch import needs_restore, run_to_end
from annotator.workers.preview_decode import hover_answer
from annotator.workers.requests import (
    DecodeRequest,
    DecodeResult,
    EncodeRequest,
    EngineInfo,
    EngineRequest,
    SegmenterFactory,
    create_engine_segmenter,
    resolve_precision,
    runs_on,
)
from annotator.workers.segment_mailbox import Mailbox
from annotator.workers.segment_prefetch import (
    PREFETCH_CACHED,
    PREFETCH_ENCODED,
    PREFETCH_FAILED,
    PrefetchMixin,
    PrefetchTask,
)
from sam_model.errors import EmbeddingError, SamModelError
from sam_model.protocol import ImageEmbedding, Segmenter

__all__ = [
    "PREFETCH_CACHED",
    "PREFETCH_ENCODED",
    "PREFETCH_FAILED",
    "DiskCacheStore",
    "EmbeddingStore",
    "SegmentWorker",
    "SegmenterFactory",
]

log = logging.getLogger(__name__)


class SegmentWorker(PrefetchMixin, QObject):
    """Owns one segmenter; runs engine loads, encodes and decodes in its thread, answers with signals.

    Signals:
        encoded(str image_id, int from_cache): the image is ready for decoding.
        prefetched(str image_id, int outcome): a prefetch finished (``PREFETCH_ENCODED``, ``PREFETCH_CACHED``,
            ``PREFETCH_FAILED``).
        decoded(DecodeResult): masks for a decode request.
        failed(str image_id, int request_no, str message): a request failed (request_no -1 for an encode).
        engine_ready(EngineInfo) / engine_failed(str message): outcome of an engine request.
    """

    encoded = Signal(
        object, int
    )  # key: object, so any file name survives; int, not bool: PySide6 6.12 mis-counts queued bool args
    decoded = Signal(object)
    failed = Signal(object, int, str)
    engine_ready = Signal(object)
    engine_failed = Signal(str)
    busy = Signal(str)
    prefetched = Signal(object, int)  # image_id, PREFETCH_* outcome

    def __init__(
        self,
        segmenter: Segmenter | None = None,
        *,
        factory: SegmenterFactory = create_engine_segmenter,
        lru_capacity: int = 3,
        disk_cache: EmbeddingStore | None = None,
    ) -> None:
        super().__init__()
        self.mailbox = Mailbox()
        self._segmenter = segmenter
        self._factory = factory
        self._lru = EmbeddingLru(lru_capacity)
        self._disk_cache = disk_cache
        self._current_image: str | None = None
        self._current_embedding: ImageEmbedding | None = None
        self._task: PrefetchTask | None = None
        self.encode_count = 0  # how many images were actually encoded, prefetch included (tests, benchmarks)
        self.prefetch_count = 0  # of which by prefetch

    @property
    def disk_cache(self) -> EmbeddingStore | None:
        """The persistent embedding cache (set once at construction; safe to read from any thread)."""
        return self._disk_cache

    @Slot()
    def drain(self) -> None:
        """Run pending jobs, most urgent first, then prefetch steps, looking at the mailbox between steps."""
        while True:
            job = self.mailbox.next_job()
            if job is None:
                if not self._prefetch_step():
                    return
            elif isinstance(job, EngineRequest):
                self._load_engine(job)
            elif isinstance(job, EncodeRequest):
                self._encode(job)
            else:
                self._decode(job)

    # --- caches ---------------------------------------------------------------------------------------
    def _disk_get(self, cache_key: str | None, model_id: str) -> ImageEmbedding | None:
        if self._disk_cache is None or cache_key is None:
            return None
        try:
            return self._disk_cache.get(cache_key, model_id)
        except OSError as exc:  # an unreadable cache folder must not stop annotation
            log.warning("embedding cache read failed: %s", exc)
            self.busy.emit(f"Embedding cache not readable: {exc}")
            return None

    def _store_fresh(self, request: EncodeRequest, embedding: ImageEmbedding, *, prefetch: bool) -> None:
        """Count a fresh encoding and keep it in the memory LRU and the disk cache."""
        self.encode_count += 1
        self.prefetch_count += int(prefetch)
        self._lru.put(request.image_id, embedding)
        if self._disk_cache is not None and request.cache_key is not None:
            try:
                self._disk_cache.put(request.cache_key, embedding.model_id, embedding)
            except (OSError, ValueError, TypeError) as exc:  # the embedding is still usable in memory
                log.warning("embedding cache write failed: %s", exc)
                self.busy.emit(f"Embedding cache not writable: {exc}")

    def _load_engine(self, request: EngineRequest) -> None:
        """Load the requested engine; when a checkpoint cannot be loaded and no engine runs yet, the
        classical engine is loaded instead (the failure message says so)."""
        failure = self._try_load_engine(request)
        if failure is None:
            return
        if request.checkpoint is not None and self._segmenter is None:
            fallback = EngineRequest(None, request.device, request.dtype)
            if self._try_load_engine(fallback) is None:
                failure += "; using the classical engine instead"
        self.engine_failed.emit(failure)

    def _try_load_engine(self, request: EngineRequest) -> str | None:
        """Build and install ``request``'s engine; the failure message, or ``None`` on success."""
        self.busy.emit("Loading engine…")
        try:
            request, note = resolve_precision(request)
            device = runs_on(request)
            segmenter = self._factory(request)
        except Exception as exc:  # one error path (task_error): known errors as they are, others logged
            message = task_error(exc, "loading the engine", JOB_ERRORS).message
            log.warning("engine load failed: %s", message)
            name = request.checkpoint or "classical engine"
            if Path(name).name not in message:
                message = f"{name}: {message}"  # every load error names the file
            return message
        self._segmenter = segmenter
        self._lru.clear()
        self._current_image = None
        self._current_embedding = None
        self._task = None
        self.engine_ready.emit(
            EngineInfo(
                segmenter.model_id,
                request.checkpoint,
                request.device,
                request.dtype,
                note=note,
                persam_unavailable=_persam_unavailable(segmenter),
                runs_on=device if device != request.device else None,
            )
        )
        return None

    def _encode(self, request: EncodeRequest) -> None:
        segmenter = self._segmenter
        if segmenter is None:
            self.failed.emit(request.image_id, -1, "no segmentation engine is loaded")
            return
        if self._current_image == request.image_id and segmenter.is_image_set:
            self.encoded.emit(request.image_id, 1)
            return
        if request.cache_key is None and self._disk_cache is not None:
            request = EncodeRequest(request.image_id, request.rgb, image_key(request.rgb))
        try:
            embedding = self._cached(request, segmenter)
            from_cache = embedding is not None
            if embedding is None:
                embedding = self._encode_fresh(request, segmenter)
            else:
                self._lru.put(request.image_id, embedding)
        except Exception as exc:  # one error path (task_error): the model's errors as they are, others logged
            self._current_image = self._current_embedding = None
            self.failed.emit(request.image_id, -1, task_error(exc, "encoding", (SamModelError,)).message)
            return
        self._current_image = request.image_id
        self._current_embedding = embedding
        self.encoded.emit(request.image_id, int(from_cache))

    def _cached(self, request: EncodeRequest, segmenter: Segmenter) -> ImageEmbedding | None:
        """Restore ``request``'s image from the LRU or the disk cache into ``segmenter``; ``None`` on a miss.

        An entry the engine rejects (``EmbeddingError``) is dropped from both caches: it is recomputed.
        """
        model_id = segmenter.model_id
        from_lru = self._lru.get(request.image_id, model_id)
        cached = from_lru if from_lru is not None else self._disk_get(request.cache_key, model_id)
        if cached is None:
            return None
        try:
            segmenter.set_embedding(cached)
        except EmbeddingError as exc:
            log.warning("cached embedding of %s rejected, encoding again: %s", request.image_id, exc)
            if self._disk_cache is not None and request.cache_key is not None:
                self._disk_cache.discard(request.cache_key, model_id)
            return None
        return cached

    def _encode_fresh(self, request: EncodeRequest, segmenter: Segmenter) -> ImageEmbedding:
        """Encode ``request``'s image (finishing a prefetch of it in progress) and cache the result."""
        self.busy.emit("Encoding image…")
        task = self._task
        wanted = (request.image_id, segmenter.model_id)
        if task is not None and (task.request.image_id, task.model_id) == wanted:
            self._task = None
            embedding = run_to_end(task.steps)
            if not needs_restore(segmenter):
                segmenter.set_embedding(embedding)
        else:
            segmenter.set_image(request.rgb)
            embedding = segmenter.get_embedding()
        self._store_fresh(request, embedding, prefetch=False)
        return embedding

    def _decode(self, request: DecodeRequest) -> None:
        segmenter = self._segmenter
        if segmenter is None or self._current_image != request.image_id:
            if (
                request.hover
            ):  # a preview for an image no longer encoded here: nothing to show, nothing to report
                log.debug("hover preview for %s dropped: the image is not encoded", request.image_id)
                return
            self.failed.emit(request.image_id, request.request_no, "the image is not encoded")
            return
        start, cpu_start = time.perf_counter(), time.thread_time()
        mask_input = request.mask_input
        if mask_input is None and request.seed_mask is not None:
            mask_input = segmenter.low_res_frame.mask_to_logits(request.seed_mask)
        try:
            if request.hover:
                answer = hover_answer(segmenter, request, mask_input)
            else:
                masks, scores, logits = segmenter.predict(
                    point_coords=request.points,
                    point_labels=request.labels,
                    box=request.box,
                    mask_input=mask_input,
                    multimask_output=request.multimask,
                )
        except Exception as exc:  # one error path (task_error): the model's errors as they are, others logged
            message = task_error(exc, "decoding", (SamModelError,)).message
            if request.hover:  # the click at that point will report it; a preview never opens a dialog
                log.warning("hover preview on %s failed: %s", request.image_id, message)
                return
            self.failed.emit(request.image_id, request.request_no, message)
            return
        if request.hover:
            if self.mailbox.supersedes_hover():
                return  # a newer preview, a click or another image waits: this preview would not be shown
            self.decoded.emit(answer)
            log.debug(
                "hover preview %s: %.0f ms (CPU of this thread %.0f ms)",
                answer.preview.labels.shape if answer.preview is not None else None,
                answer.decode_seconds * 1000,
                (time.thread_time() - cpu_start) * 1000,
            )
            return
        result = DecodeResult(
            image_id=request.image_id,
            request_no=request.request_no,
            masks=masks.astype(bool, copy=False),
            scores=scores.astype("float32", copy=False),
            low_res_logits=logits.astype("float32", copy=False),
            decode_seconds=time.perf_counter() - start,
        )
        # Outlines here, not on the GUI thread: every candidate traced, the one shown first also stroked.
        best, scale = result.best_index, request.outline_scale
        outlines = tuple(
            trace_outline(mask, scale if k == best else None) for k, mask in enumerate(result.masks)
        )
        self.decoded.emit(replace(result, outlines=outlines))


def _persam_unavailable(segmenter: Segmenter) -> str | None:
    """Why PerSAM cannot run on a loaded checkpoint's engine (SAM 2 / 2.1: no target-guided attention in its
    decoder), else ``None`` (the classical engine is refused earlier, by having no checkpoint)."""
    if type(segmenter).__module__.startswith("sam_model.sam2"):
        from annotator.core.propagation import PERSAM_NOT_FOR_SAM2

        return PERSAM_NOT_FOR_SAM2
    return None
