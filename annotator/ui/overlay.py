"""Graphics items drawn over the image: mask layers (zero-copy indexed images) and prompt markers.

A mask layer wraps an ``H x W`` uint8 label array in an ``Indexed8`` :class:`QImage` without copying it: the colour
table maps label ``k`` to a semi-transparent colour, label 0 to transparent. Building it costs nothing per
mouse move; it is rebuilt once per decode result (or per model change), and a brush stroke edits the array in
place and repaints only the touched rectangle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from annotator.workers.mask_outline import MaskOutline, OutlineSprite, draw_outline, trace_outline

RGB = tuple[int, int, int]
FILL_ALPHA = 110


def color_table(colors: Sequence[RGB | None], alpha: int = FILL_ALPHA) -> list[int]:
    """A 256-entry ARGB colour table: entry 0 transparent, entry ``k`` = ``colors[k - 1]`` (``None`` = none)."""
    table = [0] * 256
    for k, rgb in enumerate(colors[:255], start=1):
        if rgb is not None:
            table[k] = QColor(rgb[0], rgb[1], rgb[2], alpha).rgba()
    return table


def _content_rect(labels: np.ndarray) -> QRectF:
    """The bounding rectangle of the non-zero labels (empty when there are none)."""
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return QRectF()
    cols = np.flatnonzero(labels[rows[0] : rows[-1] + 1].any(axis=0))
    return QRectF(
        float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)
    )


def _box_rect(box: tuple[int, int, int, int] | None) -> QRectF:
    """``(x0, y0, x1, y1)`` (end exclusive) as a rectangle; ``None``: empty."""
    if box is None:
        return QRectF()
    return QRectF(float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1]))


class MaskLayerItem(QGraphicsItem):
    """Paints an ``H x W`` uint8 label array through a colour table; label 0 is transparent."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._labels: np.ndarray | None = None
        self._image: QImage | None = None
        self._rect = QRectF()
        self._content = QRectF()  # where labels are non-zero (what a change must repaint)

    @property
    def labels(self) -> np.ndarray | None:
        """The label array being shown (edit in place, then call :meth:`changed`)."""
        return self._labels

    def set_labels(
        self,
        labels: np.ndarray | None,
        table: list[int],
        dirty: Sequence[tuple[int, int, int, int]] | None = None,
        *,
        outline: MaskOutline | None = None,
    ) -> None:
        """Show ``labels`` (``H x W`` uint8, C-contiguous; kept by reference, not copied).

        ``dirty``: when ``labels`` is the array already shown, edited in place, the boxes ``(x0, y0, x1, y1)``
        (pixels, end exclusive) outside which neither labels nor colours changed: only they are repainted.
        ``outline``: ``labels``' outline traced already (its box spares a pass over the whole array)."""
        if dirty is not None and labels is not None and labels is self._labels and self._image is not None:
            self._image.setColorTable(table)
            for x0, y0, x1, y1 in dirty:
                box = QRectF(x0, y0, x1 - x0, y1 - y0)
                self._content = self._content.united(box)
                self.update(box)
            return
        before = self._content
        if labels is None:
            self._labels, self._image, self._content = None, None, QRectF()
        else:
            if labels.dtype != np.uint8 or not labels.flags.c_contiguous or labels.ndim != 2:
                labels = np.ascontiguousarray(labels, dtype=np.uint8)
            h, w = labels.shape
            self._labels = labels
            image = QImage(labels.data, w, h, labels.strides[0], QImage.Format.Format_Indexed8)
            image.setColorTable(table)
            self._image = image
            self._content = _content_rect(labels) if outline is None else _box_rect(outline.box)
            if self._rect != QRectF(0, 0, w, h):
                self.prepareGeometryChange()  # the old size's area is repainted by Qt
                self._rect = QRectF(0, 0, w, h)
        # Only where something was or is shown: a small live mask does not repaint the whole image (and all
        # the outlines over it); the bounding rectangle stays the image's (no prepareGeometryChange).
        changed = before.united(self._content)
        if not changed.isEmpty():  # (an empty rect would mean "all of it" to update())
            self.update(changed)

    def set_table(self, table: list[int]) -> None:
        """Change the colours without touching the labels."""
        if self._image is not None:
            self._image.setColorTable(table)
            self.update()

    def changed(self, rect: QRect | None = None) -> None:
        """Repaint after an in-place edit of the labels (only ``rect``, image pixels, when given)."""
        if rect is None:
            self._content = self._rect
        else:
            self._content = self._content.united(QRectF(rect))
        self.update(QRectF(rect) if rect is not None else self._rect)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._image is None:
            return
        exposed = option.exposedRect.intersected(self._rect)
        source = exposed.toAlignedRect()
        painter.drawImage(QRectF(source), self._image, QRectF(source))


class OutlineItem(QGraphicsItem):
    """The contour of one mask, drawn with a constant on-screen width (a light line over a dark one).

    It sets the live mask apart from the accepted instances, which are drawn as fills only. The contour is
    traced once per mask, never per repaint: by the segment worker for a decode answer (a ready
    :class:`~annotator.workers.mask_outline.MaskOutline`, the GUI thread only swaps it in), here only for a
    hand-painted mask (on its bounding box). Below a 1:1 zoom the outline's coarse form is drawn (within a
    screen pixel of the exact one), from 1:1 up the exact one; at the zoom the worker stroked it for, its
    sprite is copied instead of stroking the path.
    """

    traced = 0
    """How many masks items of this class traced themselves (on the GUI thread; tests count them)."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        # Stroked once per outline and view (zoom, scroll), then copied: a repaint of anything under it (the
        # hover layer, a brush cursor) does not stroke a long contour again.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._path = QPainterPath()
        self._coarse = self._path
        self._sprite: OutlineSprite | None = None
        self._rect = QRectF()  # the last outline's area (an empty one where it was, once cleared)

    @property
    def path(self) -> QPainterPath:
        """The exact outline shown (empty when none)."""
        return self._path

    @property
    def sprite(self) -> OutlineSprite | None:
        """The outline as the worker stroked it for one zoom (``None``: stroked here when painted)."""
        return self._sprite

    def set_mask(self, mask: np.ndarray | None, outline: MaskOutline | None = None) -> None:
        """Show the contour of ``mask`` (``H x W``, non-zero = inside; ``None`` clears the outline).

        ``outline``: ``mask``'s outline traced already (by the worker); without it the mask is traced here."""
        if mask is not None and outline is None:
            OutlineItem.traced += 1
            outline = trace_outline(mask)
        path = outline.path if outline is not None else QPainterPath()
        if path.isEmpty() and self._path.isEmpty():
            return  # nothing shown before or now: no repaint (an empty item's rect would join the dirty area)
        if path.isEmpty():
            # Cleared: repaint the old outline's area; the empty bounding rectangle stays where the outline was
            # (one at the scene origin would make Qt repaint a few pixels there too, widening the exposed area).
            self.update()
            self.prepareGeometryChange()
            self._rect = QRectF(self._rect.center(), QSizeF(0, 0))
        else:
            self.prepareGeometryChange()
            self._rect = path.boundingRect().adjusted(-4, -4, 4, 4)
        self._path = path
        self._coarse = outline.coarse if outline is not None else path
        self._sprite = outline.sprite if outline is not None else None
        if not path.isEmpty():
            self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._path.isEmpty():
            return
        transform = painter.worldTransform()
        zoom = transform.m11()
        sprite = self._sprite
        if (
            sprite is not None
            and transform.type().value <= QTransform.TransformationType.TxScale.value
            and math.isclose(zoom, sprite.scale, rel_tol=1e-9)
            and math.isclose(transform.m22(), sprite.scale, rel_tol=1e-9)
        ):
            at = transform.map(QPointF(*sprite.origin))  # stroked already for this zoom: a copy
            painter.save()
            painter.resetTransform()
            painter.drawImage(QPoint(round(at.x()), round(at.y())), sprite.image)
            painter.restore()
            return
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(transform)
        draw_outline(painter, self._path if lod >= 1.0 else self._coarse)


class PromptItem(QGraphicsItem):
    """Prompt markers, a constant size on screen: green + (positive), red − (negative), the box outline."""

    MARKER = 7.0  # half size, screen pixels

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._points: list[tuple[float, float, int]] = []
        self._box: tuple[float, float, float, float] | None = None
        self._rect = QRectF()

    def set_prompts(
        self, points: Sequence[tuple[float, float, int]], box: tuple[float, float, float, float] | None
    ) -> None:
        """Show ``points`` (``(x, y, label)``, image pixels) and ``box`` (``x0, y0, x1, y1``) or ``None``."""
        if not points and box is None and not self._points and self._box is None:
            return  # none before, none now: no repaint
        if not points and box is None:  # cleared: repaint the markers' old area; the empty bounding rectangle
            self.update()  # stays there (at the scene origin, Qt would repaint a few pixels too)
            self.prepareGeometryChange()
            self._points, self._box = [], None
            self._rect = QRectF(self._rect.center(), QSizeF(0, 0))
            return
        self.prepareGeometryChange()
        self._points = list(points)
        self._box = box
        path = QPainterPath()
        for x, y, _ in self._points:
            path.addRect(QRectF(x - 1, y - 1, 2, 2))
        if box is not None:
            path.addRect(QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])))
        self._rect = path.boundingRect()
        self.update()

    def boundingRect(self) -> QRectF:
        if not self._points and self._box is None:
            return self._rect
        scale = self._scale()
        pad = (self.MARKER + 3) / scale
        return self._rect.adjusted(-pad, -pad, pad, pad)

    def _scale(self) -> float:
        scene = self.scene()
        if scene is None or not scene.views():
            return 1.0
        return max(scene.views()[0].transform().m11(), 1e-6)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._box is not None:
            pen = QPen(QColor(255, 215, 0), 2)
            pen.setCosmetic(True)
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(QPointF(self._box[0], self._box[1]), QPointF(self._box[2], self._box[3])))
        size = self.MARKER / self._scale()
        for x, y, label in self._points:
            color = QColor(40, 220, 60) if label == 1 else QColor(235, 40, 40)
            painter.setBrush(QColor(0, 0, 0, 150))
            outline = QPen(QColor(255, 255, 255), 1.5)
            outline.setCosmetic(True)
            painter.setPen(outline)
            painter.drawEllipse(QPointF(x, y), size * 1.25, size * 1.25)
            pen = QPen(color, 3)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawLine(QPointF(x - size * 0.8, y), QPointF(x + size * 0.8, y))
            if label == 1:
                painter.drawLine(QPointF(x, y - size * 0.8), QPointF(x, y + size * 0.8))
