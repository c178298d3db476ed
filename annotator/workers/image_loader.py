"""Decode image files off the GUI thread: a worker in its own QThread answers with pixels and a display QImage.

Opening a 24-megapixel photo must not stall the event loop, so the file is decoded, converted to the 32-bit
layout a :class:`QPixmap` can adopt without conversion (``Format_RGB32``), and wrapped in a :class:`QImage`
here; the GUI thread only calls ``QPixmap.fromImage`` (cheap for that format). The loader is a latest-only
:class:`~annotator.workers.background.BackgroundWorker`: only the newest request is served, pages flipped quickly
are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from annotator.core.errors import CoreError
from annotator.workers.background import BackgroundWorker, TaskContext, TaskError

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


def decode_image(load: LoadFn, key: str, path: Path) -> DecodedImage:
    """Load ``path`` with ``load`` and make its display image (in the loader's thread)."""
    rgb = load(path)
    qimage = rgb_to_qimage(rgb)
    if not rgb.flags.owndata or not rgb.flags.c_contiguous:
        rgb = np.ascontiguousarray(rgb).copy()  # here, not on the GUI thread (see frozen_array)
    rgb.setflags(write=False)
    return DecodedImage(key, rgb, qimage)


class ImageLoader(QObject):
    """GUI-side handle: ``load(key, path)``; answers ``loaded(DecodedImage)`` / ``failed(key, message)``."""

    loaded = Signal(object)
    failed = Signal(object, str)  # key as object: any file name survives (issue 15)

    def __init__(self, load: LoadFn = default_load, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._load = load
        # a file the user can fix or skip: its message as is (anything else also names the file)
        self._worker = BackgroundWorker(
            name="image-loader", latest_only=True, user_errors=(CoreError, OSError, ValueError), parent=self
        )
        self._worker.returned.connect(self._on_loaded)
        self._worker.errored.connect(self._on_failed)
        self.wanted: str | None = None

    def load(self, key: str, path: Path) -> None:
        """Decode ``path`` in the background; only the newest request's answer is emitted."""
        self.wanted = key
        load = self._load

        def job(_context: TaskContext) -> DecodedImage:
            return decode_image(load, key, path)

        self._worker.submit(key, job, label=f"loading {path}")

    def shutdown(self) -> None:
        self._worker.shutdown()

    @Slot(object, object)
    def _on_loaded(self, key: str, image: DecodedImage) -> None:
        if key == self.wanted:
            self.loaded.emit(image)

    @Slot(object, object)
    def _on_failed(self, key: str, error: TaskError) -> None:
        if key == self.wanted:
            self.failed.emit(key, error.message)
