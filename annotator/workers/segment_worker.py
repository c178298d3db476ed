"""The segment worker: a QObject living in its own QThread that owns the segmenter.

The GUI thread talks to it only through :class:`SegmentClient` (see ``segment_client.py``): requests go into a
lock-protected :class:`_Mailbox` and a queued ``wake`` signal makes the worker drain it; answers come back as
signals. The mailbox keeps only what is still useful: the newest engine request, the newest encode request,
and per image only the newest decode request (it carries all the prompts), so clicks made while an image
encodes are decoded once, when the encoding finishes.

Embeddings come from, in order: the in-memory LRU, the ``disk_cache`` (an :class:`EmbeddingStore`;
:class:`DiskCacheStore` adapts ``annotator.core.embedding_cache.EmbeddingCache``, keyed by the pixels' hash),
then ``set_image``. Fresh embeddings go into both caches. A cached embedding the engine rejects is discarded
and recomputed.

Prefetch (ADR 0006): below the interactive requests, the mailbox holds a queue of images to encode ahead
(``put_prefetch``, only for ids of the current plan, ``set_prefetch_plan``). The worker runs one prefetch
*step* at a time (a transformer block for SAM, see ``prefetch.encode_steps``) and looks at the mailbox between
steps, so a click waits for at most one step. A prefetch in progress for the image the user then opens is
finished instead of restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.workers.embedding_lru import EmbeddingLru
from annotator.workers.prefetch import EncodeSteps, encode_steps, needs_restore, run_to_end
from annotator.workers.requests import (
    DecodeRequest,
    DecodeResult,
    EncodeRequest,
    EngineInfo,
    EngineRequest,
    SegmenterFactory,
    create_engine_segmenter,
)
from sam_model.errors import EmbeddingError, SamModelError
from sam_model.protocol import ImageEmbedding, Segmenter

log = logging.getLogger(__name__)


class EmbeddingStore(Protocol):
    """A persistent embedding cache (``annotator.core.embedding_cache.EmbeddingCache`` fits)."""

    def get(self, image_key: str, model_id: str) -> ImageEmbedding | None: ...

    def put(self, image_key: str, model_id: str, embedding: ImageEmbedding) -> None: ...

    def discard(self, image_key: str, model_id: str) -> None: ...


class DiskCacheStore:
    """Adapts :class:`EmbeddingCache` (whose ``put`` takes the model id from the embedding) to
    :class:`EmbeddingStore`."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache

    def get(self, image_key: str, model_id: str) -> ImageEmbedding | None:
        return self.cache.get(image_key, model_id)

    def put(self, image_key: str, model_id: str, embedding: ImageEmbedding) -> None:
        if embedding.model_id != model_id:
            raise ValueError(f"embedding of {embedding.model_id!r} stored as {model_id!r}")
        self.cache.put(image_key, embedding)

    def discard(self, image_key: str, model_id: str) -> None:
        self.cache.discard(image_key, model_id)


"""SAM from ``request.checkpoint`` (architecture detected from the file), else the classical engine."""


@dataclass
class _PrefetchTask:
    """A prefetch encoding in progress: its request, the engine it runs on, and its remaining steps."""

    request: EncodeRequest
    model_id: str
    steps: EncodeSteps


@dataclass
class _Mailbox:
    """Pending requests, shared between the GUI thread (writers) and the worker thread (reader)."""

    engine: EngineRequest | None = None
    encode: EncodeRequest | None = None
    target_image: str | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.decodes: dict[str, DecodeRequest] = {}
        self.prefetch_plan: tuple[str, ...] = ()
        self.prefetch: list[EncodeRequest] = []

    def set_prefetch_plan(self, image_ids: tuple[str, ...]) -> None:
        """Images to prefetch, in order; queued prefetches of other images are dropped."""
        with self.lock:
            self.prefetch_plan = tuple(image_ids)
            self.prefetch = [r for r in self.prefetch if r.image_id in self.prefetch_plan]

    def put_prefetch(self, request: EncodeRequest) -> None:
        """Queue a prefetch (ignored unless its image is in the plan), kept in plan order."""
        with self.lock:
            if request.image_id not in self.prefetch_plan:
                return
            queue = [r for r in self.prefetch if r.image_id != request.image_id] + [request]
            self.prefetch = sorted(queue, key=lambda r: self.prefetch_plan.index(r.image_id))

    def next_prefetch(self) -> EncodeRequest | None:
        with self.lock:
            return self.prefetch.pop(0) if self.prefetch else None

    def wants_prefetch(self, image_id: str) -> bool:
        with self.lock:
            return image_id in self.prefetch_plan

    def put_engine(self, request: EngineRequest) -> None:
        with self.lock:
            self.engine = request

    def put_encode(self, request: EncodeRequest) -> None:
        with self.lock:
            self.encode = request
            self.target_image = request.image_id
            # Prompts for any other image can no longer be shown: drop them.
            self.decodes = {k: v for k, v in self.decodes.items() if k == request.image_id}

    def put_decode(self, request: DecodeRequest) -> None:
        with self.lock:
            if request.image_id != self.target_image:
                return
            old = self.decodes.get(request.image_id)
            if old is None or old.request_no < request.request_no:
                self.decodes[request.image_id] = request

    def has_urgent_work(self) -> bool:
        """Whether an interactive request waits (a prefetch should stop early)."""
        with self.lock:
            return self.engine is not None or self.encode is not None or bool(self.decodes)

    def next_job(self) -> EngineRequest | EncodeRequest | DecodeRequest | None:
        """Pop the most urgent pending request: engine, then encode, then the target image's decode."""
        with self.lock:
            if self.engine is not None:
                job: EngineRequest | EncodeRequest | DecodeRequest | None = self.engine
                self.engine = None
                return job
            if self.encode is not None:
                job, self.encode = self.encode, None
                return job
            if self.target_image is not None and self.target_image in self.decodes:
                return self.decodes.pop(self.target_image)
            return None


PREFETCH_ENCODED, PREFETCH_CACHED, PREFETCH_FAILED = 0, 1, -1


class SegmentWorker(QObject):
    """Owns one segmenter; runs engine loads, encodes and decodes in its thread, answers with signals.

    Signals:
        encoded(str image_id, int from_cache): the image is ready for decoding.
        prefetched(str image_id, int outcome): a prefetch finished (``PREFETCH_ENCODED``, ``PREFETCH_CACHED``,
            ``PREFETCH_FAILED``).
        decoded(DecodeResult): masks for a decode request.
        failed(str image_id, int request_no, str message): a request failed (request_no -1 for an encode).
        engine_ready(EngineInfo) / engine_failed(str message): outcome of an engine request.
    """

    encoded = Signal(str, int)  # int, not bool: PySide6 6.12 mis-counts queued bool args
    decoded = Signal(object)
    failed = Signal(str, int, str)
    engine_ready = Signal(object)
    engine_failed = Signal(str)
    busy = Signal(str)
    prefetched = Signal(str, int)  # image_id, PREFETCH_* outcome

    def __init__(
        self,
        segmenter: Segmenter | None = None,
        *,
        factory: SegmenterFactory = create_engine_segmenter,
        lru_capacity: int = 3,
        disk_cache: EmbeddingStore | None = None,
    ) -> None:
        super().__init__()
        self.mailbox = _Mailbox()
        self._segmenter = segmenter
        self._factory = factory
        self._lru = EmbeddingLru(lru_capacity)
        self._disk_cache = disk_cache
        self._current_image: str | None = None
        self._current_embedding: ImageEmbedding | None = None
        self._task: _PrefetchTask | None = None
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

    # --- prefetch -------------------------------------------------------------------------------------
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
        self._task = _PrefetchTask(request, model_id, encode_steps(segmenter, request.rgb))

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
        self.busy.emit("Loading engine…")
        try:
            segmenter = self._factory(request)
        except (SamModelError, OSError, RuntimeError, ValueError) as exc:
            log.warning("engine load failed: %s", exc)
            self.engine_failed.emit(str(exc))
            return
        except Exception as exc:  # shown to the user, traceback logged
            log.exception("engine load failed")
            self.engine_failed.emit(f"{request.checkpoint or 'classical engine'}: {exc}")
            return
        self._segmenter = segmenter
        self._lru.clear()
        self._current_image = None
        self._current_embedding = None
        self._task = None
        self.engine_ready.emit(
            EngineInfo(segmenter.model_id, request.checkpoint, request.device, request.dtype)
        )

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
        except SamModelError as exc:
            self._current_image = self._current_embedding = None
            self.failed.emit(request.image_id, -1, str(exc))
            return
        except Exception as exc:  # reported to the user, with the traceback in the log
            log.exception("encoding %s failed", request.image_id)
            self._current_image = self._current_embedding = None
            self.failed.emit(request.image_id, -1, f"encoding failed: {exc}")
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
            self.failed.emit(request.image_id, request.request_no, "the image is not encoded")
            return
        start = time.perf_counter()
        try:
            masks, scores, logits = segmenter.predict(
                point_coords=request.points,
                point_labels=request.labels,
                box=request.box,
                mask_input=request.mask_input,
                multimask_output=request.multimask,
            )
        except SamModelError as exc:
            self.failed.emit(request.image_id, request.request_no, str(exc))
            return
        except Exception as exc:  # reported to the user, with the traceback in the log
            log.exception("decoding on %s failed", request.image_id)
            self.failed.emit(request.image_id, request.request_no, f"decoding failed: {exc}")
            return
        self.decoded.emit(
            DecodeResult(
                image_id=request.image_id,
                request_no=request.request_no,
                masks=masks.astype(bool, copy=False),
                scores=scores.astype("float32", copy=False),
                low_res_logits=logits.astype("float32", copy=False),
                decode_seconds=time.perf_counter() - start,
            )
        )
