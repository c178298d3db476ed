"""The outlines of the accepted objects: one contour per object in its own colour, the selected one emphasised.

Contours are traced once per mask (OpenCV on the mask's bounding-box crop) and cached by instance id and mask. A
change repaints only the boxes of the outlines that changed, and a repaint strokes only the cached paths that
cross the exposed rectangle, with cosmetic (constant on-screen width) pens: one change costs the same with
2,000 objects as with two (issue 15).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QRegion
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from annotator.core.box_index import Box, BoxIndex
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


class OutlineEdit(NamedTuple):
    """One object's change for :meth:`InstanceOutlinesItem.apply`: ``kind`` is ``"insert"`` (at drawing
    position ``position``), ``"update"`` or ``"remove"``; ``spec`` ``None``: the object is not outlined (hidden)."""

    kind: str
    instance_id: int
    position: int = 0
    spec: OutlineSpec | None = None


class _Entry(NamedTuple):
    spec: OutlineSpec | None
    path: QPainterPath
    box: QRectF


class InstanceOutlinesItem(QGraphicsItem):
    """Outlines of every shown object (see :class:`OutlineSpec`), kept in drawing order with their boxes
    (:class:`~annotator.core.box_index.BoxIndex`): a change, and a repaint of a small area, touch only the
    objects concerned."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._entries: dict[int, _Entry] = {}
        self._index = BoxIndex()
        self._shown = 0
        self._rect = QRectF()
        self._groups: dict[RGB, QPainterPath] | None = None  # colour -> its objects' paths (full repaints)
        self._halo: QPainterPath | None = None  # every unselected path (the dark line under the colours)
        self.traced = 0  # contours traced so far (tests check that one change traces one)

    def set_outlines(self, specs: Sequence[OutlineSpec]) -> None:
        """Show exactly ``specs`` (in drawing order); only new masks are traced, only changes repainted."""
        self.set_entries([(spec.instance_id, spec) for spec in specs])

    def set_entries(self, entries: Sequence[tuple[int, OutlineSpec | None]]) -> None:
        """Hold every object of the image in drawing order, ``None`` for those not outlined."""
        old = self._entries
        new: dict[int, _Entry] = {}
        dirty: list[QRectF] = []
        for iid, spec in entries:
            before = old.get(iid)
            entry = self._entry(spec, before)
            new[iid] = entry
            if before is None or before.spec != spec:
                dirty.extend(e.box for e in (before, entry) if e is not None and e.spec is not None)
        dirty.extend(e.box for iid, e in old.items() if iid not in new and e.spec is not None)
        self._entries = new
        self._index.reset((iid, _int_box(e.box)) for iid, e in new.items())
        self._shown = sum(1 for e in new.values() if e.spec is not None)
        boxes = [e.box for e in new.values() if e.spec is not None and not e.box.isEmpty()]
        rect = QRectF()
        if boxes:
            x0, y0 = min(b.left() for b in boxes), min(b.top() for b in boxes)
            x1, y1 = max(b.right() for b in boxes), max(b.bottom() for b in boxes)
            rect = QRectF(x0 - 4, y0 - 4, x1 - x0 + 8, y1 - y0 + 8)
        self._set_rect(rect)
        self._changed(dirty)

    def apply(self, edits: Sequence[OutlineEdit]) -> None:
        """Apply one object's changes at a time (no pass over the other objects)."""
        dirty: list[QRectF] = []
        for edit in edits:
            before = self._entries.get(edit.instance_id)
            if edit.kind == "remove":
                if before is None:
                    continue
                del self._entries[edit.instance_id]
                self._index.remove(edit.instance_id)
                entry = None
            else:
                if edit.kind == "update" and before is None:
                    continue
                entry = self._entry(edit.spec, before)
                self._entries[edit.instance_id] = entry
                if edit.kind == "insert" and before is None:
                    self._index.insert(edit.position, edit.instance_id, _int_box(entry.box))
                elif before is None or before.box != entry.box:
                    self._index.replace(edit.instance_id, _int_box(entry.box))
            shown = [e for e in (before, entry) if e is not None and e.spec is not None]
            if before is not None and entry is not None and before.spec == entry.spec:
                continue
            dirty.extend(e.box for e in shown)
            self._shown += (entry is not None and entry.spec is not None) - (
                before is not None and before.spec is not None
            )
            if entry is not None and entry.spec is not None and not entry.box.isEmpty():
                grown = entry.box.adjusted(-4, -4, 4, 4)
                self._set_rect(grown if self._rect.isEmpty() else self._rect.united(grown))
        self._changed(dirty)

    def _entry(self, spec: OutlineSpec | None, before: _Entry | None) -> _Entry:
        """The entry of ``spec``, reusing ``before``'s traced path when the mask is the same object."""
        if spec is None:
            return (
                _Entry(None, before.path, before.box)
                if before is not None
                else _Entry(None, QPainterPath(), QRectF())
            )
        if before is not None and before.spec is not None and before.spec.mask is spec.mask:
            return _Entry(spec, before.path, before.box)
        path = trace(spec.mask)
        self.traced += 1
        return _Entry(spec, path, path.boundingRect())

    def _set_rect(self, rect: QRectF) -> None:
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect

    def _changed(self, dirty: list[QRectF]) -> None:
        if dirty:
            self._groups = self._halo = None  # rebuilt at the next large repaint
        for box in dirty:
            self.update(box.adjusted(-4, -4, 4, 4))

    @property
    def count(self) -> int:
        """How many outlines are shown."""
        return self._shown

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
        entries = self._entries
        inverse = device.inverted()[0]
        areas = (
            [exposed] if region is None else [inverse.mapRect(QRectF(r)).intersected(exposed) for r in region]
        )
        boxes = [_int_box(a.adjusted(-4, -4, 4, 4)) for a in areas if not a.isEmpty()]
        for iid in self._index.overlapping_any(boxes):  # a small area: the outlines crossing its rectangles
            spec, path, box = entries[iid]
            if spec is None:
                continue
            grown = box.adjusted(-4, -4, 4, 4)
            if not grown.intersects(exposed):
                continue
            if region is not None and not region.intersects(device.mapRect(grown).toAlignedRect()):
                continue
            for pen in _pens(spec.color, spec.selected):
                painter.setPen(pen)
                painter.drawPath(path)

    def _paint_grouped(self, painter: QPainter) -> None:
        """A large repaint: one path per colour (a few draw calls for thousands of objects), the selected
        object last, on top."""
        if self._groups is None or self._halo is None:
            groups: dict[RGB, QPainterPath] = {}
            halo = QPainterPath()
            for spec, path, _box in self._ordered():
                if spec is not None and not spec.selected:
                    groups.setdefault(spec.color, QPainterPath()).addPath(path)
                    halo.addPath(path)
            self._groups, self._halo = groups, halo
        dark, _light = _pens((0, 0, 0), False)
        painter.setPen(dark)
        painter.drawPath(self._halo)
        for color, path in self._groups.items():
            painter.setPen(_pens(color, False)[1])
            painter.drawPath(path)
        for spec, path, _box in self._ordered():
            if spec is not None and spec.selected:
                for pen in _pens(spec.color, True):
                    painter.setPen(pen)
                    painter.drawPath(path)

    def _ordered(self) -> list[_Entry]:
        """The entries in drawing order."""
        entries = self._entries
        return [entries[iid] for iid in self._index.ids]


def _int_box(rect: QRectF) -> Box:
    """``rect`` as whole pixels ``(x0, y0, x1, y1)`` covering it (empty rects stay empty)."""
    if rect.isEmpty():
        return (0, 0, 0, 0)
    return (
        math.floor(rect.left()),
        math.floor(rect.top()),
        math.ceil(rect.right()) + 1,
        math.ceil(rect.bottom()) + 1,
    )


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
