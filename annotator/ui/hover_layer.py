"""The canvas item of the hover preview: a :class:`~annotator.workers.mask_preview.MaskPreview` drawn over the
image, scaled to it, through a colour table (fill, light inner edge, dark outer edge).

The preview comes from the segment worker at the view's resolution with its edge already marked, so showing one
wraps its labels in an ``Indexed8`` :class:`QImage` without copying and repaints only where the old and the new
preview lie: nothing is traced, stroked or converted per preview on the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from annotator.workers.mask_preview import EDGE_IN, EDGE_OUT, FILL, MaskPreview

HOVER_ALPHA = 100
"""Opacity (0-255) of the preview's fill."""

EDGE_COLORS = {EDGE_IN: QColor(255, 255, 255), EDGE_OUT: QColor(0, 0, 0, 200)}
"""The preview's edge, as the live outline's pens: a light line inside a dark one."""


def preview_table(rgb: tuple[int, int, int]) -> list[int]:
    """The colour table of a preview filled with ``rgb``: 256 ARGB entries, 0 transparent."""
    table = [0] * 256
    table[FILL] = QColor(rgb[0], rgb[1], rgb[2], HOVER_ALPHA).rgba()
    for label, color in EDGE_COLORS.items():
        table[label] = color.rgba()
    return table


def _box_rect(box: tuple[int, int, int, int] | None) -> QRectF:
    if box is None:
        return QRectF()
    return QRectF(float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1]))


class HoverLayerItem(QGraphicsItem):
    """Paints the hover preview over the image (scene coordinates are image pixels)."""

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self._preview: MaskPreview | None = None
        self._image: QImage | None = None
        self._rect = QRectF()  # the image's rectangle (kept when cleared: no geometry change per preview)
        self._content = QRectF()  # where the preview shown has non-zero labels

    @property
    def labels(self) -> np.ndarray | None:
        """The preview's labels shown (``h x w`` uint8, ``mask_preview`` labels), or ``None``."""
        return None if self._preview is None else self._preview.labels

    @property
    def preview(self) -> MaskPreview | None:
        return self._preview

    def set_preview(self, preview: MaskPreview | None, table: list[int]) -> None:
        """Show ``preview`` (kept by reference) coloured by ``table`` (:func:`preview_table`); ``None`` clears."""
        before = self._content
        if preview is None:
            self._preview, self._image, self._content = None, None, QRectF()
        else:
            labels = preview.labels
            if labels.dtype != np.uint8 or labels.ndim != 2 or not labels.flags.c_contiguous:
                raise ValueError(f"a preview's labels must be 2-D C-contiguous uint8, got {labels.dtype}")
            h, w = labels.shape
            image = QImage(labels.data, w, h, labels.strides[0], QImage.Format.Format_Indexed8)
            image.setColorTable(table)
            self._preview, self._image = preview, image
            self._content = _box_rect(preview.box)
            height, width = preview.image_size
            if self._rect != QRectF(0, 0, width, height):
                self.prepareGeometryChange()
                self._rect = QRectF(0, 0, width, height)
        changed = before.united(self._content)
        if not changed.isEmpty():  # (an empty rect would mean "all of it" to update())
            self.update(changed.adjusted(-1, -1, 1, 1))

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        preview, image = self._preview, self._image
        if preview is None or image is None:
            return
        target = option.exposedRect.intersected(self._content.adjusted(-1, -1, 1, 1))
        if target.isEmpty():
            return
        sx, sy = preview.scale
        source = QRectF(target.x() * sx, target.y() * sy, target.width() * sx, target.height() * sy)
        painter.drawImage(target, image, source)
