"""Decode image files off the GUI thread: a worker in its own QThread answers with pixels and a display QImage.

Opening a 24-megapixel photo must not stall the event loop, so the file is decoded, converted to the 32-bit
layout a :class:`QPixmap` can adopt without conversion (``Format_RGB32``), and wrapped in a :class:`QImage`
here; the GUI thread only calls ``QPixmap.fromImage`` (cheap for that format). Only the newest request is
served: pages flipped quickly are skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from annotator.core.errors import CoreError
from annotator.workers.threads import start_worker_thread, stop_worker_thread

log = logging.getLogger(__name__)

LoadFn = Callable[[Path], np.ndarray]


def default_load(path: Path) -> np.ndarray:
    """``annotator.core.images.load_image`` (EXIF orientation applied, ``H x W x 3`` uint8 RGB)."""
    from annotator.core.images import load_image

    return load_image(path).rgb


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An ``RGB32`` :class:`QImage` owning a copy of ``rgb`` (``H x W x 3`` uint8); no Python loops."""
    h, w = rgb.shape[:2]
    bgra = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)
    image = QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32)
    image.ndarray_keepalive = bgra  # type: ignore[attr-defined]  # the QImage borrows this buffer
    return image


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image: ``rgb`` ``H x W x 3`` uint8 (read-only) and ``qimage`` for display."""

    key: str
    rgb: np.ndarray
    qimage: QImage


class _ImageLoadWorker(QObject):
    loaded = Signal(object)
    failed = Signal(object, str)  # key as object: any file name survives (issue 15)

    def __init__(self, load: LoadFn) -> None:
        super().__init__()
        self._load = load
        self._lock = threading.Lock()
        self._pending: tuple[str, Path] | None = None

    def put(self, key: str, path: Path) -> None:
        with self._lock:
            self._pending = (key, path)

    @Slot()
    def drain(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
            if job is None:
                return
            key, path = job
            try:
                rgb = self._load(path)
                qimage = rgb_to_qimage(rgb)
            except (CoreError, OSError, ValueError) as exc:  # a file the user can fix or skip
                self.failed.emit(key, str(exc))
                continue
            except Exception as exc:  # shown to the user as an error image, traceback logged
                log.exception("loading %s failed", path)
                self.failed.emit(key, f"{path}: {exc}")
                continue
            if not rgb.flags.owndata or not rgb.flags.c_contiguous:
                rgb = np.ascontiguousarray(rgb).copy()  # here, not on the GUI thread (see frozen_array)
            rgb.setflags(write=False)
            self.loaded.emit(DecodedImage(key, rgb, qimage))


class ImageLoader(QObject):
    """GUI-side handle: ``load(key, path)``; answers ``loaded(DecodedImage)`` / ``failed(key, message)``."""

    loaded = Signal(object)
    failed = Signal(object, str)  # key as object: any file name survives (issue 15)
    _wake = Signal()

    def __init__(self, load: LoadFn = default_load, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = _ImageLoadWorker(load)
        self._wake.connect(self._worker.drain)
        self._worker.loaded.connect(self._on_loaded)
        self._worker.failed.connect(self._on_failed)
        self.thread = start_worker_thread(self._worker, "image-loader")
        self.wanted: str | None = None

    def load(self, key: str, path: Path) -> None:
        """Decode ``path`` in the background; only the newest request's answer is emitted."""
        self.wanted = key
        self._worker.put(key, path)
        self._wake.emit()

    def shutdown(self) -> None:
        stop_worker_thread(self.thread)

    @Slot(object)
    def _on_loaded(self, image: DecodedImage) -> None:
        if image.key == self.wanted:
            self.loaded.emit(image)

    @Slot(object, str)
    def _on_failed(self, key: str, message: str) -> None:
        if key == self.wanted:
            self.failed.emit(key, message)
