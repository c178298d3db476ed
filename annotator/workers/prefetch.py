"""Prefetch: encode the next images of the list while the user works on the current one (ADR 0006).

Three parts:

* :func:`encode_steps`: an image encoding split into small steps (a generator). An engine that implements
  :class:`~sam_model.protocol.SteppedEncoder` (the SAM family's predictors) does the stepping itself, a block or
  so per step, without touching its current image, so the segment worker can answer a click between two steps
  and resume the prefetch afterwards. Any other engine (classical engine, test fakes) is encoded in one step
  through ``set_image``, which replaces the engine's current image: the worker restores it afterwards
  (:func:`needs_restore`).
* :class:`PrefetchLoader`: decodes the files to prefetch in its own thread (never on the GUI thread) and
  hashes their pixels for the disk cache; owned by :class:`~annotator.workers.segment_client.SegmentClient`.
* :class:`PrefetchPlanner`: GUI-side policy. When the current image is encoded it asks the client to
  prefetch the next ``depth`` images in the direction the user is moving (forward: next, next + 1...;
  backward: previous, previous - 1...), skipping images marked as errors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.embedding_cache import image_key
from annotator.core.errors import CoreError
from annotator.workers.image_loader import default_load
from annotator.workers.threads import start_worker_thread, stop_worker_thread
from sam_model.protocol import EncodeSteps, ImageEmbedding, Segmenter, SteppedEncoder

if TYPE_CHECKING:
    from annotator.ui.controller import SessionController

log = logging.getLogger(__name__)


def prefetch_order(
    keys: Sequence[str],
    current: str,
    direction: int,
    depth: int,
    skip: Callable[[str], bool] = lambda _key: False,
) -> list[str]:
    """The ``depth`` images after ``current`` in ``direction`` (+1 forward, -1 backward), ``skip``-ped ones
    left out."""
    if current not in keys or depth <= 0:
        return []
    step = 1 if direction >= 0 else -1
    index = keys.index(current) + step
    order: list[str] = []
    while 0 <= index < len(keys) and len(order) < depth:
        if not skip(keys[index]):
            order.append(keys[index])
        index += step
    return order


def needs_restore(segmenter: Segmenter) -> bool:
    """Whether :func:`encode_steps` replaces the engine's current image (the worker must restore it): true
    for an engine that does not implement :class:`~sam_model.protocol.SteppedEncoder`."""
    return not isinstance(segmenter, SteppedEncoder)


def encode_steps(segmenter: Segmenter, rgb: np.ndarray) -> EncodeSteps:
    """Encode ``rgb`` (``H x W x 3`` uint8) in steps; the generator's return value is the embedding.

    Step by step, without touching the current image, for an engine implementing
    :class:`~sam_model.protocol.SteppedEncoder` (its ``encode_steps``: a transformer block or so per step);
    otherwise one step through ``set_image`` + ``get_embedding`` (the worker restores the current image).
    """
    if isinstance(segmenter, SteppedEncoder):
        return (yield from segmenter.encode_steps(rgb))
    segmenter.set_image(rgb)
    return segmenter.get_embedding()


def run_to_end(steps: EncodeSteps) -> ImageEmbedding:
    """Run the remaining steps of ``steps`` and return the embedding."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


@dataclass(frozen=True)
class PrefetchImage:
    """A decoded image to prefetch: ``rgb`` read-only ``H x W x 3`` uint8; ``cache_key`` its pixel hash."""

    image_id: str
    rgb: np.ndarray
    cache_key: str | None


class _PrefetchLoadWorker(QObject):
    loaded = Signal(object)
    failed = Signal(object, str)  # key as object: any file name survives (issue 15)

    def __init__(self, load: Callable[[Path], np.ndarray], hash_pixels: bool) -> None:
        super().__init__()
        self._load = load
        self._hash = hash_pixels
        self._lock = threading.Lock()
        self._plan: list[tuple[str, Path]] = []

    def set_plan(self, items: Sequence[tuple[str, Path]]) -> None:
        with self._lock:
            self._plan = list(items)

    @Slot()
    def drain(self) -> None:
        while True:
            with self._lock:
                if not self._plan:
                    return
                key, path = self._plan.pop(0)  # a new plan replaces the rest between two files
            try:
                rgb = np.ascontiguousarray(self._load(path))
                rgb = rgb if rgb.flags.owndata else rgb.copy()
                rgb.setflags(write=False)
                cache_key = image_key(rgb) if self._hash else None
            except (CoreError, OSError, ValueError) as exc:  # the user sees it when opening that image
                log.info("prefetch: cannot load %s: %s", path, exc)
                self.failed.emit(key, str(exc))
                continue
            except Exception as exc:  # logged with its traceback; prefetching the rest goes on
                log.exception("prefetch: loading %s failed", path)
                self.failed.emit(key, f"{path}: {exc}")
                continue
            self.loaded.emit(PrefetchImage(key, rgb, cache_key))


class PrefetchLoader(QObject):
    """GUI-side handle of the prefetch file decoder (own thread ``prefetch-loader``).

    ``set_plan([(image_id, path), ...])`` replaces the files still to load; ``loaded(PrefetchImage)`` and
    ``failed(image_id, message)`` answer in plan order.
    """

    loaded = Signal(object)
    failed = Signal(object, str)  # key as object: any file name survives (issue 15)
    _wake = Signal()

    def __init__(
        self,
        load: Callable[[Path], np.ndarray] = default_load,
        *,
        hash_pixels: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._worker = _PrefetchLoadWorker(load, hash_pixels)
        self._wake.connect(self._worker.drain)
        self._worker.loaded.connect(self.loaded)
        self._worker.failed.connect(self.failed)
        self.thread = start_worker_thread(self._worker, "prefetch-loader")

    def set_plan(self, items: Sequence[tuple[str, Path]]) -> None:
        self._worker.set_plan(items)
        self._wake.emit()

    def shutdown(self) -> None:
        self._worker.set_plan([])
        stop_worker_thread(self.thread)


class PrefetchPlanner(QObject):
    """Decides what to prefetch: the next ``depth`` images in the direction of the user's last move.

    It follows the controller (``current_image_changed``) to learn the direction and starts a plan when the
    current image is encoded (``client.encoded``), so prefetching never competes with the image the user waits
    for. Parent it to the controller (it holds no state the widgets need).
    """

    def __init__(self, controller: SessionController, depth: int = 2) -> None:
        super().__init__(controller)
        self._controller = controller
        self.depth = depth
        self.direction = 1
        self._index: int | None = None
        self._last: tuple[tuple[str, ...], str | None] | None = None
        controller.current_image_changed.connect(self._on_current_changed)
        controller.client.encoded.connect(self._on_encoded)
        controller.client.engine_ready.connect(self._on_engine_ready)

    @Slot(object)
    def _on_current_changed(self, key: str) -> None:
        keys = self._controller.image_keys
        index = keys.index(key) if key in keys else None
        if index is not None and self._index is not None and index != self._index:
            self.direction = 1 if index > self._index else -1
        self._index = index

    @Slot(object)
    def _on_engine_ready(self, _info: object) -> None:
        self._last = None  # the worker's memory cache was cleared: plan again

    @Slot(object)
    def _on_encoded(self, key: str) -> None:
        from annotator.core.model import ImageStatus

        controller = self._controller
        if key != controller.current_key or self.depth <= 0:
            return
        project = controller.project
        order = prefetch_order(
            controller.image_keys,
            key,
            self.direction,
            self.depth,
            skip=lambda k: project.image(k).status is ImageStatus.ERROR,
        )
        engine = controller.client.engine
        plan = (tuple(order), engine.model_id if engine is not None else None)
        if plan == self._last:  # the same images for the same engine: already planned
            return
        self._last = plan
        controller.client.prefetch_files([(k, controller.image_path(k)) for k in order])
