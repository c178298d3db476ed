"""The outlines of the accepted objects: one contour per object in its own colour, the selected one emphasised.

Contours are traced once per mask (OpenCV on the mask's bounding box) and cached by instance id and mask; a
repaint only strokes the cached paths with cosmetic (constant on-screen width) pens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from annotator.core.masks import Mask

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class OutlineSpec:
    """One object to outline: its id, mask, colour and whether it is selected."""

    instance_id: int
    mask: Mask
    color: RGB
    selected: bool = False


def trace(mask: Mask) -> QPainterPath:
    """The contours of ``mask`` through pixel centres (image pixel coordinates)."""
    path = QPainterPath()
    x, y, w, h = mask.bbox
    if w == 0 or h == 0:
        return path
    crop = np.ascontiguousarray(mask.array()[y : y + h, x : x + w]).view(np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        points = contour.reshape(-1, 2).astype(float) + np.array([x + 0.5, y + 0.5])
        path.moveTo(points[0, 0], points[0, 1])
        for px, py in points[1:]:
            path.lineTo(px, py)
        path.closeSubpath()
    return path


class InstanceOutlinesItem(QGraphicsItem):
    """Outlines of every shown object (see :class:`OutlineSpec`)."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._cache: dict[int, tuple[Mask, QPainterPath]] = {}
        self._shown: list[tuple[QPainterPath, RGB, bool]] = []
        self._rect = QRectF()

    def set_outlines(self, specs: Sequence[OutlineSpec]) -> None:
        self.prepareGeometryChange()
        cache: dict[int, tuple[Mask, QPainterPath]] = {}
        shown = []
        rect = QRectF()
        for spec in specs:
            cached = self._cache.get(spec.instance_id)
            path = cached[1] if cached is not None and cached[0] is spec.mask else trace(spec.mask)
            cache[spec.instance_id] = (spec.mask, path)
            shown.append((path, spec.color, spec.selected))
            rect = rect.united(path.boundingRect())
        self._cache, self._shown = cache, shown
        self._rect = rect.adjusted(-4, -4, 4, 4) if not rect.isNull() else QRectF()
        self.update()

    @property
    def count(self) -> int:
        """How many outlines are shown."""
        return len(self._shown)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for path, (r, g, b), selected in self._shown:
            layers = (
                ((QColor(0, 0, 0, 220), 4.0), (QColor(255, 255, 255), 2.0))
                if selected
                else ((QColor(0, 0, 0, 140), 2.5), (QColor(r, g, b), 1.2))
            )
            for color, width in layers:
                pen = QPen(color, width)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.drawPath(path)
