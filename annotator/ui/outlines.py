"""The outlines of the accepted objects: one contour per object in its own colour, the selected one emphasised.

Contours are traced once per mask (OpenCV on the mask's bounding-box crop) and cached by instance id and mask. A
change repaints only the boxes of the outlines that changed, and a repaint strokes only the cached paths that
cross the exposed rectangle, with cosmetic (constant on-screen width) pens: one change costs the same with
2,000 objects as with two (issue 15).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QRegion
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
    crop = np.ascontiguousarray(mask.crop()).view(np.uint8)
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
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._cache: dict[int, tuple[Mask, QPainterPath, QRectF, tuple[float, float, float, float]]] = {}
        self._shown: list[tuple[QPainterPath, RGB, bool, QRectF]] = []
        self._state: dict[int, tuple[Mask, RGB, bool]] = {}
        self._rect = QRectF()
        self._groups: dict[RGB, QPainterPath] | None = None  # colour -> its objects' paths (full repaints)
        self._halo: QPainterPath | None = None  # every unselected path (the dark line under the colours)
        self.traced = 0  # contours traced so far (tests check that one change traces one)

    def set_outlines(self, specs: Sequence[OutlineSpec]) -> None:
        cache: dict[int, tuple[Mask, QPainterPath, QRectF, tuple[float, float, float, float]]] = {}
        state: dict[int, tuple[Mask, RGB, bool]] = {}
        shown = []
        dirty: list[QRectF] = []
        old_cache, old_state = self._cache, self._state
        for spec in specs:
            iid = spec.instance_id
            cached = old_cache.get(iid)
            if cached is None or cached[0] is not spec.mask:
                path = trace(spec.mask)
                box = path.boundingRect()
                cached = (spec.mask, path, box, (box.left(), box.top(), box.right(), box.bottom()))
                self.traced += 1
            cache[iid] = cached
            now = (spec.mask, spec.color, spec.selected)
            state[iid] = now
            before = old_state.get(iid)
            if before != now:
                dirty.append(cached[2])
                if before is not None and before[0] is not spec.mask:
                    dirty.append(old_cache[iid][2])
            shown.append((cached[1], spec.color, spec.selected, cached[2]))
        dirty.extend(old_cache[iid][2] for iid in old_state if iid not in state)
        bounds = [c[3] for c in cache.values() if c[2].width() > 0 or c[2].height() > 0]
        new_rect = QRectF()
        if bounds:
            x0, y0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
            x1, y1 = max(b[2] for b in bounds), max(b[3] for b in bounds)
            new_rect = QRectF(x0 - 4, y0 - 4, x1 - x0 + 8, y1 - y0 + 8)
        if new_rect != self._rect:
            self.prepareGeometryChange()
        if dirty or len(state) != len(old_state) or list(state) != list(old_state):
            self._groups = self._halo = None  # rebuilt at the next large repaint
        self._cache, self._shown, self._state, self._rect = cache, shown, state, new_rect
        for box in dirty:
            self.update(box.adjusted(-4, -4, 4, 4))

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
        exposed = option.exposedRect
        # The view's exposed rectangle is the bounding box of everything being repainted (two small areas far
        # apart make it huge); the canvas keeps the exact region, in viewport pixels, to test against.
        region = getattr(widget.parent(), "paint_region", None) if widget is not None else None
        device = painter.worldTransform()
        if region is not None:
            bounds = device.inverted()[0].mapRect(QRectF(region.boundingRect()))
            exposed = exposed.intersected(bounds)
        area = self._rect.width() * self._rect.height()
        if area > 0 and _area(region) > _area_of(device.mapRect(self._rect)) / 4:
            self._paint_grouped(painter)
            return
        for path, color, selected, box in self._shown:  # a small area: only the outlines crossing it
            grown = box.adjusted(-4, -4, 4, 4)
            if not grown.intersects(exposed):
                continue
            if region is not None and not region.intersects(device.mapRect(grown).toAlignedRect()):
                continue
            for pen in _pens(color, selected):
                painter.setPen(pen)
                painter.drawPath(path)

    def _paint_grouped(self, painter: QPainter) -> None:
        """A large repaint: one path per colour (a few draw calls for thousands of objects), the selected
        object last, on top."""
        if self._groups is None or self._halo is None:
            groups: dict[RGB, QPainterPath] = {}
            halo = QPainterPath()
            for path, color, selected, _box in self._shown:
                if not selected:
                    groups.setdefault(color, QPainterPath()).addPath(path)
                    halo.addPath(path)
            self._groups, self._halo = groups, halo
        dark, _light = _pens((0, 0, 0), False)
        painter.setPen(dark)
        painter.drawPath(self._halo)
        for color, path in self._groups.items():
            painter.setPen(_pens(color, False)[1])
            painter.drawPath(path)
        for path, color, selected, _box in self._shown:
            if selected:
                for pen in _pens(color, True):
                    painter.setPen(pen)
                    painter.drawPath(path)


def _area_of(rect: QRectF) -> float:
    return max(rect.width(), 0.0) * max(rect.height(), 0.0)


def _area(region: QRegion | None) -> float:
    """The area of a paint region in pixels (``inf`` when unknown: paint everything)."""
    if region is None:
        return float("inf")
    rects: Iterable[QRect] = region  # type: ignore[assignment]  # PySide6 iterates a QRegion (no stub)
    return float(sum(r.width() * r.height() for r in rects))


def _pens(color: RGB, selected: bool) -> tuple[QPen, QPen]:
    """The two cosmetic pens of an outline: a dark line under a light (selected) or coloured one."""
    r, g, b = color
    layers = (
        ((QColor(0, 0, 0, 220), 4.0), (QColor(255, 255, 255), 2.0))
        if selected
        else ((QColor(0, 0, 0, 140), 2.5), (QColor(r, g, b), 1.2))
    )
    pens = []
    for pen_color, width in layers:
        pen = QPen(pen_color, width)
        pen.setCosmetic(True)
        pens.append(pen)
    return pens[0], pens[1]
