"""What review mode draws on the canvas: the current proposal bright (fill + outline), the rest dimmed.

View only: it shows the proposals it is given and knows nothing of the review rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QLabel

from annotator.core.review_proposal import Proposal
from annotator.ui.canvas import Canvas
from annotator.ui.overlay import MaskLayerItem

DIM, OTHER, CURRENT = 1, 2, 3
HIGHLIGHT = QColor(255, 230, 0)
MIN_VIEW = 160.0  # smallest side (image pixels) of the view rect when zooming to a proposal
MAX_SCALE = 8.0


def _table() -> list[int]:
    table = [0] * 256
    table[DIM] = QColor(0, 0, 0, 90).rgba()
    table[OTHER] = QColor(120, 170, 255, 80).rgba()
    table[CURRENT] = QColor(HIGHLIGHT.red(), HIGHLIGHT.green(), HIGHLIGHT.blue(), 95).rgba()
    return table


def outline_path(mask: np.ndarray, bbox: tuple[int, int, int, int]) -> QPainterPath:
    """The outer and hole contours of ``mask`` (searched inside ``bbox``) as one path, image pixels."""
    x, y, w, h = bbox
    path = QPainterPath()
    if w == 0 or h == 0:
        return path
    crop = np.ascontiguousarray(mask[y : y + h, x : x + w], dtype=np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        points = contour[:, 0, :]
        path.moveTo(QPointF(points[0][0] + x + 0.5, points[0][1] + y + 0.5))
        for px, py in points[1:]:
            path.lineTo(QPointF(px + x + 0.5, py + y + 0.5))
        path.closeSubpath()
    return path


class ReviewOverlay:
    """Scene items over the canvas (between the objects and the live mask) plus a caption label."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.layer = MaskLayerItem()
        self.layer.setZValue(canvas.instances_layer.zValue() + 0.5)
        self.outline = QGraphicsPathItem()
        pen = QPen(HIGHLIGHT, 2.5)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        self.outline.setPen(pen)
        self.outline.setZValue(canvas.prompt_item.zValue() + 0.5)
        canvas.scene().addItem(self.layer)
        canvas.scene().addItem(self.outline)
        self.caption = QLabel(canvas)  # not the viewport's child: scrolling the viewport would move it
        self.caption.setObjectName("review_caption")
        self.caption.setStyleSheet(
            "QLabel { background: rgba(20, 20, 24, 200); color: #ffe600; padding: 6px 10px;"
            " border-radius: 4px; font-weight: bold; }"
        )
        self.hide()

    def hide(self) -> None:
        self.layer.set_labels(None, [])
        self.outline.setPath(QPainterPath())
        self.layer.setVisible(False)
        self.outline.setVisible(False)
        self.caption.hide()

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
        self.caption.adjustSize()
        self.caption.move(self.canvas.viewport().geometry().topLeft() + QPoint(10, 10))
        self.caption.show()
        self.caption.raise_()

    def show(self, size: tuple[int, int], proposals: Sequence[Proposal], current: Proposal | None) -> None:
        """Draw ``proposals`` (the pending ones of the shown image) dimmed and ``current`` highlighted."""
        h, w = size
        labels = np.full((h, w), DIM, np.uint8)
        for proposal in proposals:
            if proposal.mask.shape != (h, w) or (current is not None and proposal.id == current.id):
                continue
            x, y, bw, bh = proposal.mask.bbox
            region = labels[y : y + bh, x : x + bw]
            region[proposal.mask.crop() & (region == DIM)] = OTHER  # the box only (issue 15)
        path = QPainterPath()
        if current is not None and current.mask.shape == (h, w):
            x, y, bw, bh = current.mask.bbox
            labels[y : y + bh, x : x + bw][current.mask.crop()] = CURRENT
            path = outline_path(current.mask.array(), current.mask.bbox)
        self.layer.set_labels(labels, _table())
        self.outline.setPath(path)
        self.layer.setVisible(True)
        self.outline.setVisible(True)

    def set_refining(self, refining: bool) -> None:
        """While refining, the live mask shows the object: only the outline of the proposal stays."""
        self.layer.setVisible(not refining)

    def focus(self, bbox: tuple[int, int, int, int]) -> None:
        """Zoom and pan so ``bbox`` (``x, y, w, h``) is in view with a margin."""
        x, y, w, h = bbox
        margin = max(w, h) * 0.6 + 24
        side_w, side_h = max(w + 2 * margin, MIN_VIEW), max(h + 2 * margin, MIN_VIEW)
        cx, cy = x + w / 2, y + h / 2
        rect = QRectF(cx - side_w / 2, cy - side_h / 2, side_w, side_h)
        self.canvas.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        scale = self.canvas.transform().m11()
        if scale > MAX_SCALE:
            self.canvas.zoom(MAX_SCALE / scale)
        self.canvas.centerOn(cx, cy)
