"""The segment worker: a QObject living in its own QThread that owns the segmenter.

The GUI thread talks to it only through :class:`SegmentClient` (see ``segment_client.py``): requests go into a
lock-protected :class:`_Mailbox` and a queued ``wake`` signal makes the worker drain it; answers come back as
signals. The mailbox keeps only what is still useful: the newest engine request, the newest encode request,
and per image only the newest decode request (it carries all the prompts), so clicks made while an image
encodes are decoded once, when the encoding finishes.

Extension points (for prefetch and the disk cache):

* ``disk_cache``: any object with ``get(image_key, model_id) -> ImageEmbedding | None`` and
  ``put(image_key, model_id, embedding)`` (``annotator.core.embedding_cache.EmbeddingCache``) is consulted on
  encode when the request has a ``cache_key``.
* :meth:`_Mailbox.next_job` is the single place that picks the next job by priority; a low-priority prefetch
  queue goes last there, and a long prefetch can check :meth:`_Mailbox.has_urgent_work` between steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, Signal, Slot

from annotator.workers.embedding_lru import EmbeddingLru
from annotator.workers.requests import (
    DecodeRequest,
    DecodeResult,
    EncodeRequest,
    EngineInfo,
    EngineRequest,
)
from sam_model.errors import SamModelError
from sam_model.protocol import ImageEmbedding, Segmenter

log = logging.getLogger(__name__)

SegmenterFactory = Callable[[EngineRequest], Segmenter]


class EmbeddingStore(Protocol):
    """A persistent embedding cache (``annotator.core.embedding_cache.EmbeddingCache`` fits)."""

    def get(self, image_key: str, model_id: str) -> ImageEmbedding | None: ...

    def put(self, image_key: str, model_id: str, embedding: ImageEmbedding) -> None: ...


def default_segmenter_factory(request: EngineRequest) -> Segmenter:
    """SAM from ``request.checkpoint`` (architecture detected by ``sam_model.build``), else the classical engine."""
    if request.checkpoint is None:
        from sam_model.classic import ClassicSegmenter

        return ClassicSegmenter()
    from sam_model.build import load_predictor

    return load_predictor(request.checkpoint, device=request.device, dtype=request.dtype)


@dataclass
class _Mailbox:
    """Pending requests, shared between the GUI thread (writers) and the worker thread (reader)."""

    engine: EngineRequest | None = None
    encode: EncodeRequest | None = None
    target_image: str | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.decodes: dict[str, DecodeRequest] = {}

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


class SegmentWorker(QObject):
    """Owns one segmenter; runs engine loads, encodes and decodes in its thread, answers with signals.

    Signals:
        encoded(str image_id, int from_cache): the image is ready for decoding.
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

    def __init__(
        self,
        segmenter: Segmenter | None = None,
        *,
        factory: SegmenterFactory = default_segmenter_factory,
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
        self.encode_count = 0  # how many times set_image actually ran (tests, benchmarks)

    @Slot()
    def drain(self) -> None:
        """Run pending jobs, most urgent first, until the mailbox is empty."""
        while (job := self.mailbox.next_job()) is not None:
            if isinstance(job, EngineRequest):
                self._load_engine(job)
            elif isinstance(job, EncodeRequest):
                self._encode(job)
            else:
                self._decode(job)

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
        try:
            cached = self._lru.get(request.image_id, segmenter.model_id)
            if cached is None and self._disk_cache is not None and request.cache_key is not None:
                cached = self._disk_cache.get(request.cache_key, segmenter.model_id)
            if cached is not None:
                segmenter.set_embedding(cached)
                self._lru.put(request.image_id, cached)
                from_cache = True
            else:
                self.busy.emit("Encoding image…")
                segmenter.set_image(request.rgb)
                self.encode_count += 1
                embedding = segmenter.get_embedding()
                self._lru.put(request.image_id, embedding)
                if self._disk_cache is not None and request.cache_key is not None:
                    self._disk_cache.put(request.cache_key, segmenter.model_id, embedding)
                from_cache = False
        except SamModelError as exc:
            self._current_image = None
            self.failed.emit(request.image_id, -1, str(exc))
            return
        except Exception as exc:  # reported to the user, with the traceback in the log
            log.exception("encoding %s failed", request.image_id)
            self._current_image = None
            self.failed.emit(request.image_id, -1, f"encoding failed: {exc}")
            return
        self._current_image = request.image_id
        self.encoded.emit(request.image_id, int(from_cache))

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
