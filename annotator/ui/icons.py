"""Small generated icons (colour swatches, status dots): no image files needed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from annotator.core.model import ImageStatus

STATUS_COLORS: dict[ImageStatus, QColor] = {
    ImageStatus.NOT_STARTED: QColor(140, 140, 140),
    ImageStatus.IN_PROGRESS: QColor(240, 180, 30),
    ImageStatus.DONE: QColor(50, 190, 80),
    ImageStatus.ERROR: QColor(220, 50, 50),
}
STATUS_TEXT: dict[ImageStatus, str] = {
    ImageStatus.NOT_STARTED: "not started",
    ImageStatus.IN_PROGRESS: "in progress",
    ImageStatus.DONE: "done",
    ImageStatus.ERROR: "error",
}


def swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    """A filled square of colour ``rgb``."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


def status_icon(status: ImageStatus, size: int = 12) -> QIcon:
    """A coloured dot for an image status (a cross for errors)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(STATUS_COLORS[status])
    painter.drawEllipse(1, 1, size - 2, size - 2)
    if status is ImageStatus.ERROR:
        painter.setPen(QColor(255, 255, 255))
        painter.drawLine(4, 4, size - 5, size - 5)
        painter.drawLine(size - 5, 4, 4, size - 5)
    painter.end()
    return QIcon(pixmap)
