"""The prefetch file decoder: reads the files to prefetch in its own thread (never on the GUI thread) and hashes
their pixels for the disk cache; owned by :class:`~annotator.workers.segment_client.SegmentClient` (ADR 0006).
One file is one job of a :class:`~annotator.workers.background.BackgroundWorker` (ADR 0011).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from annotator.core.embedding_cache import image_key
from annotator.core.errors import CoreError
from annotator.workers.background import BackgroundWorker, TaskContext, TaskError
from annotator.workers.image_loader import default_load

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrefetchImage:
    """A decoded image to prefetch: ``rgb`` read-only ``H x W x 3`` uint8; ``cache_key`` its pixel hash."""

    image_id: str
    rgb: np.ndarray
    cache_key: str | None


def load_for_prefetch(
    load: Callable[[Path], np.ndarray], key: str, path: Path, hash_pixels: bool
) -> PrefetchImage:
    """Decode ``path`` (read-only, contiguous pixels) and hash them for the disk cache (in the loader's thread)."""
    rgb = np.ascontiguousarray(load(path))
    rgb = rgb if rgb.flags.owndata else rgb.copy()
    rgb.setflags(write=False)
    return PrefetchImage(key, rgb, image_key(rgb) if hash_pixels else None)


class PrefetchLoader(QObject):
    """GUI-side handle of the prefetch file decoder (own thread ``prefetch-loader``).

    ``set_plan([(image_id, path), ...])`` replaces the files still to load (the one being read finishes);
    ``loaded(PrefetchImage)`` and ``failed(image_id, message)`` answer in plan order.
    """

    loaded = Signal(object)
    failed = Signal(object, str)  # key as object: any file name survives (issue 15)

    def __init__(
        self,
        load: Callable[[Path], np.ndarray] = default_load,
        *,
        hash_pixels: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._load = load
        self._hash = hash_pixels
        # a file the user can fix or skip: the user sees it when opening that image
        self._worker = BackgroundWorker(
            name="prefetch-loader", user_errors=(CoreError, OSError, ValueError), parent=self
        )
        self._worker.returned.connect(self._on_loaded)
        self._worker.errored.connect(self._on_failed)

    def set_plan(self, items: Sequence[tuple[str, Path]]) -> None:
        load, hash_pixels = self._load, self._hash
        self._worker.drop_waiting()
        for key, path in items:

            def job(_context: TaskContext, key: str = key, path: Path = path) -> PrefetchImage:
                return load_for_prefetch(load, key, path, hash_pixels)

            self._worker.submit(key, job, label=f"prefetch: loading {path}")

    def shutdown(self) -> None:
        self._worker.shutdown()

    @Slot(object, object)
    def _on_loaded(self, _key: object, image: PrefetchImage) -> None:
        self.loaded.emit(image)

    @Slot(object, object)
    def _on_failed(self, key: object, error: TaskError) -> None:
        log.info("%s", error.message)
        self.failed.emit(key, error.message)
