"""Graphics items drawn over the image: mask layers (zero-copy indexed images) and prompt markers.

A mask layer wraps an ``H x W`` uint8 label array in an ``Indexed8`` :class:`QImage` without copying it: the colour
table maps label ``k`` to a semi-transparent colour, label 0 to transparent. Building it costs nothing per
mouse move; it is rebuilt once per decode result (or per model change), and a brush stroke edits the array in
place and repaints only the touched rectangle.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

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
    ) -> None:
        """Show ``labels`` (``H x W`` uint8, C-contiguous; kept by reference, not copied).

        ``dirty``: when ``labels`` is the array already shown, edited in place, the boxes ``(x0, y0, x1, y1)``
        (pixels, end exclusive) outside which neither labels nor colours changed: only they are repainted."""
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
            self._content = _content_rect(labels)
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
    traced once per mask (OpenCV, ``CHAIN_APPROX_SIMPLE``), never per repaint.
    """

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._path = QPainterPath()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Trace ``mask`` (``H x W``, non-zero = inside; ``None`` clears the outline)."""
        path = QPainterPath()
        if mask is not None and mask.any():
            contours, _ = cv2.findContours(
                mask.view(np.uint8) if mask.dtype == bool else (mask != 0).astype(np.uint8),
                cv2.RETR_LIST,
                cv2.CHAIN_APPROX_SIMPLE,
            )
            for contour in contours:
                points = contour.reshape(-1, 2)
                # Pixel (x, y) covers [x, x+1): outline the pixel centres.
                path.moveTo(float(points[0, 0]) + 0.5, float(points[0, 1]) + 0.5)
                for x, y in points[1:]:
                    path.lineTo(float(x) + 0.5, float(y) + 0.5)
                path.closeSubpath()
        if path.isEmpty() and self._path.isEmpty():
            return  # nothing shown before or now: no repaint (an empty item's rect would join the dirty area)
        self.prepareGeometryChange()
        self._path = path
        self.update()

    def boundingRect(self) -> QRectF:
        if self._path.isEmpty():  # nothing at the scene origin to repaint (it would widen every exposed area)
            return QRectF()
        return self._path.boundingRect().adjusted(-4, -4, 4, 4)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self._path.isEmpty():
            return
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for color, width in ((QColor(0, 0, 0, 200), 3.5), (QColor(255, 255, 255), 1.5)):
            pen = QPen(color, width)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawPath(self._path)


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
            return QRectF()
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
