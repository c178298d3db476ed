"""The GUI-thread side of the segment worker: numbers requests and drops stale answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from annotator.workers.prefetch_loader import PrefetchImage, PrefetchLoader
from annotator.workers.requests import (
    DecodeRequest,
    DecodeResult,
    EncodeRequest,
    EngineInfo,
    EngineRequest,
    frozen_array,
)
from annotator.workers.segment_worker import EmbeddingStore, SegmenterFactory, SegmentWorker
from annotator.workers.threads import start_worker_thread, stop_worker_thread
from sam_model.protocol import Segmenter


class SegmentClient(QObject):
    """Starts a :class:`SegmentWorker` in its own thread and is the GUI's only handle on it.

    Only answers for the current image and its newest decode request are re-emitted, so a slow answer for a
    previous image or an older click can never be painted.

    Signals:
        encoding_started(str image_id), encoded(str image_id), decoded(DecodeResult),
        failed(str message): for the current image only; hover_decoded(DecodeResult): the answer to the newest
        hover preview, while no click waits for its answer; engine_ready(EngineInfo), engine_failed(str),
        status(str): a short line for the status bar; prefetched(str image_id, int outcome): a prefetch
        finished (``segment_worker.PREFETCH_*``); busy_changed(str): what the worker is doing for the user
        now ("Loading engine…", "Encoding image…", "Decoding…"), ``""`` when idle (prefetch and hover
        previews do not count).
    """

    # Image keys travel as ``object``: a ``str`` argument becomes a QString, which replaces the surrogate
    # escapes of file names that are not UTF-8, and the answer would never match the image again.
    encoding_started = Signal(object)
    encoded = Signal(object)
    decoded = Signal(object)
    hover_decoded = Signal(object)
    failed = Signal(str)
    engine_ready = Signal(object)
    engine_failed = Signal(str)
    status = Signal(str)
    prefetched = Signal(object, int)
    busy_changed = Signal(str)
    _wake = Signal()

    def __init__(
        self,
        segmenter: Segmenter | None = None,
        *,
        factory: SegmenterFactory | None = None,
        lru_capacity: int = 3,
        disk_cache: EmbeddingStore | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        kwargs = {} if factory is None else {"factory": factory}
        self.worker = SegmentWorker(segmenter, lru_capacity=lru_capacity, disk_cache=disk_cache, **kwargs)
        self._wake.connect(self.worker.drain)
        self.worker.encoded.connect(self._on_encoded)
        self.worker.decoded.connect(self._on_decoded)
        self.worker.failed.connect(self._on_failed)
        self.worker.engine_ready.connect(self._on_engine_ready)
        self.worker.engine_failed.connect(self._on_engine_failed)
        self.worker.busy.connect(self.status)
        self.worker.prefetched.connect(self.prefetched)
        self._thread = start_worker_thread(self.worker, "segment-worker")
        self._hash_pixels = disk_cache is not None
        self._prefetch_loader: PrefetchLoader | None = None  # started on the first prefetch
        self._shut_down = False
        self.current_image: str | None = None
        self.image_ready = False
        self.engine: EngineInfo | None = None
        self._request_no = 0
        self._newest_request = -1
        self._hover_no = 0
        self.pending_decode = False
        self.engine_loading = segmenter is None
        self._encode_failed = False
        self.busy = ""
        self.outline_scale: float | None = (
            None  # the view's zoom: outlines come stroked for it (see requests)
        )

    # --- requests -------------------------------------------------------------------------------------
    def load_engine(self, request: EngineRequest) -> None:
        """Replace the engine in the worker; the current image is encoded again once it is ready."""
        self.image_ready = False
        self.engine_loading = True
        self.worker.mailbox.put_engine(request)
        self._wake.emit()
        self._update_busy()

    def set_image(self, image_id: str, rgb: np.ndarray, cache_key: str | None = None) -> None:
        """Make ``image_id`` current and encode it in the worker (never blocks)."""
        self.current_image = image_id
        self.image_ready = False
        self.pending_decode = False
        self._rgb = rgb
        self._cache_key = cache_key
        self._encode_failed = False
        self.worker.mailbox.put_encode(EncodeRequest(image_id, frozen_array(rgb), cache_key))
        self.encoding_started.emit(image_id)
        self._wake.emit()
        self._update_busy()

    def clear_image(self) -> None:
        """No current image: every pending answer is dropped."""
        self.current_image = None
        self.image_ready = False
        self._newest_request = self._request_no + 1
        self.pending_decode = False
        self._update_busy()

    def decode(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
        seed_mask: np.ndarray | None = None,
    ) -> int:
        """Ask for masks for the current image's prompts; returns the request number.

        ``seed_mask`` (``H x W`` bool), used without ``mask_input``: the object being refined, turned into the
        engine's ``mask_input`` by the worker (only the engine knows its low-res frame)."""
        if self.current_image is None:
            raise RuntimeError("decode() without a current image")
        self._request_no += 1
        self._newest_request = self._request_no
        self._hover_no += 1  # a click: no preview answer still on its way is shown
        request = DecodeRequest(
            image_id=self.current_image,
            request_no=self._request_no,
            points=frozen_array(points, np.float32),
            labels=frozen_array(labels, np.int32),
            box=frozen_array(box, np.float32),
            mask_input=frozen_array(mask_input, np.float32),
            multimask=multimask,
            seed_mask=frozen_array(seed_mask, np.bool_),
            outline_scale=self.outline_scale,
        )
        self.pending_decode = True
        self.worker.mailbox.put_decode(request)
        self._wake.emit()
        self._update_busy()
        return self._request_no

    def hover(
        self,
        points: np.ndarray,
        labels: np.ndarray,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
    ) -> int:
        """Ask for a hover preview on the current image (lowest priority; any click or new hover replaces it);
        returns its hover number. Ignored (returns -1) while the image is not encoded or a click waits."""
        if self.current_image is None or not self.image_ready or self.pending_decode:
            return -1
        self._hover_no += 1
        request = DecodeRequest(
            image_id=self.current_image,
            request_no=self._hover_no,
            points=frozen_array(points, np.float32),
            labels=frozen_array(labels, np.int32),
            box=frozen_array(box, np.float32),
            mask_input=frozen_array(mask_input, np.float32),
            multimask=multimask,
            hover=True,
            outline_scale=self.outline_scale,
        )
        self.worker.mailbox.put_hover(request)
        self._wake.emit()
        return self._hover_no

    def cancel_hover(self) -> None:
        """Drop the queued preview and ignore the one being decoded (the pointer moved)."""
        self._hover_no += 1
        self.worker.mailbox.cancel_hover()

    def prefetch_files(self, items: Sequence[tuple[str, Path]]) -> None:
        """Encode these images ahead, in this order, at low priority (replaces the previous plan).

        The files are decoded in the ``prefetch-loader`` thread; the worker runs prefetch steps only while no
        interactive request waits. Ignored after :meth:`shutdown` (a late ``encoded`` answer can still plan one:
        a loader thread started then would outlive the app).
        """
        if self._shut_down:
            return
        self.worker.mailbox.set_prefetch_plan(tuple(image_id for image_id, _path in items))
        if not items and self._prefetch_loader is None:
            return
        if self._prefetch_loader is None:
            self._prefetch_loader = PrefetchLoader(hash_pixels=self._hash_pixels)
            self._prefetch_loader.loaded.connect(self._on_prefetch_loaded)
        self._prefetch_loader.set_plan(items)

    @Slot(object)
    def _on_prefetch_loaded(self, image: PrefetchImage) -> None:
        self.worker.mailbox.put_prefetch(EncodeRequest(image.image_id, image.rgb, image.cache_key))
        self._wake.emit()

    def cancel_decodes(self) -> None:
        """Forget any answer still on its way (the prompts were cleared)."""
        self._request_no += 1
        self._newest_request = self._request_no
        self.pending_decode = False
        self._update_busy()

    def _busy_text(self) -> str:
        if self.engine_loading:
            return "Loading engine…"
        if self.current_image is not None and not self.image_ready and not self._encode_failed:
            return "Encoding image…" + (" (click queued)" if self.pending_decode else "")
        return "Decoding…" if self.pending_decode else ""

    def _update_busy(self) -> None:
        text = self._busy_text()
        if text != self.busy:
            self.busy = text
            self.busy_changed.emit(text)

    def shutdown(self) -> None:
        """Stop the worker threads: pending requests are dropped, then the job in progress is waited for (at
        most the quit wait once the app quits, see ``threads.set_quit_wait``)."""
        self._shut_down = True
        self.worker.mailbox.close()
        if self._prefetch_loader is not None:
            self._prefetch_loader.shutdown()
        stop_worker_thread(self._thread)

    # --- answers --------------------------------------------------------------------------------------
    @Slot(object, int)
    def _on_encoded(self, image_id: str, from_cache: int) -> None:
        if image_id != self.current_image:
            return
        self.image_ready = True
        self._update_busy()
        self.status.emit("Ready" + (" (cached embedding)" if from_cache else ""))
        self.encoded.emit(image_id)

    @Slot(object)
    def _on_decoded(self, result: DecodeResult) -> None:
        if result.hover:
            current = result.image_id == self.current_image and result.request_no == self._hover_no
            if current and not self.pending_decode:
                self.hover_decoded.emit(result)
            return
        if result.image_id != self.current_image or result.request_no != self._newest_request:
            return
        self.pending_decode = False
        self._update_busy()
        self.decoded.emit(result)

    @Slot(object, int, str)
    def _on_failed(self, image_id: str, request_no: int, message: str) -> None:
        if image_id != self.current_image:
            return
        if request_no >= 0 and request_no != self._newest_request:
            return
        self.pending_decode = False
        if request_no < 0:
            self._encode_failed = True
        self._update_busy()
        self.failed.emit(message)

    @Slot(str)
    def _on_engine_failed(self, message: str) -> None:
        self.engine_loading = False
        if self.engine is not None and self.current_image is not None:
            self.set_image(self.current_image, self._rgb, self._cache_key)  # the old engine is still there
        elif self.engine is None:
            self._encode_failed = True  # no engine at all: nothing will be encoded until one loads
        self._update_busy()
        self.engine_failed.emit(message)

    @Slot(object)
    def _on_engine_ready(self, info: EngineInfo) -> None:
        self.engine = info
        self.engine_loading = False
        self._update_busy()
        self.engine_ready.emit(info)
        if self.current_image is not None:
            self.set_image(self.current_image, self._rgb, self._cache_key)
