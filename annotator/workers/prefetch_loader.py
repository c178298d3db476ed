"""The prefetch file decoder: reads the files to prefetch in its own thread (never on the GUI thread) and hashes
their pixels for the disk cache; owned by :class:`~annotator.workers.segment_client.SegmentClient` (ADR 0006).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.embedding_cache import image_key
from annotator.core.errors import CoreError
from annotator.workers.image_loader import default_load
from annotator.workers.threads import start_worker_thread, stop_worker_thread

log = logging.getLogger(__name__)


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
        self._thread = start_worker_thread(self._worker, "prefetch-loader")

    def set_plan(self, items: Sequence[tuple[str, Path]]) -> None:
        self._worker.set_plan(items)
        self._wake.emit()

    def shutdown(self) -> None:
        self._worker.set_plan([])
        stop_worker_thread(self._thread)
