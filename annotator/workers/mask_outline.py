"""Mask outlines traced off the GUI thread: contours of the mask's bounding box only, as ready QPainterPaths.

A decode answer's masks are full-image (``H x W``) arrays, but what the canvas needs of each is small: where it
is (its bounding box) and its contour. :func:`trace_outline` finds both with work proportional to the box (one
``any`` pass over the rows and columns aside), and builds the contour's :class:`QPainterPath` without a Python
loop per point: the points go into the path's ``QDataStream`` form with NumPy, and Qt reads it back.

The segment worker calls it for every candidate of an answer (``DecodeResult.outlines``), so the GUI thread only
swaps paths. Two paths are kept: ``path``, exact (every contour vertex, pixel centres), drawn from a 1:1 zoom up;
``coarse``, the same contours simplified by at most :data:`COARSE_TOLERANCE_PX` image pixels (Douglas-Peucker),
drawn when the view shows the image smaller than 1:1, where that error is below a screen pixel. For the mask
shown first (the best candidate) the worker also strokes the outline into a :class:`OutlineSprite` for the
view's zoom: stroking a long contour with wide pens is the costly part of showing it, and it is done there too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PySide6.QtCore import QByteArray, QDataStream, QIODevice, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen

SPRITE_PAD = 3
"""Transparent margin (screen pixels) of a sprite around the outline's box: the widest pen's half width and more."""

SPRITE_MAX_PIXELS = 8_000_000
"""Largest sprite (screen pixels): a big mask at a strong zoom is stroked by the canvas instead (clipped to the
view), not rendered into an image larger than the view."""

OUTLINE_PENS = ((QColor(0, 0, 0, 200), 3.5), (QColor(255, 255, 255), 1.5))
"""The outline's look: a light line over a dark one, ``(colour, width in screen pixels)``."""

SPRITE_PIECE_POINTS = 1500
"""Most contour points one ``QPainter.drawPath`` call strokes into a sprite. PySide holds Python's GIL while Qt
strokes, so a long outline (a speckled mask has thousands of contours) is stroked in pieces: the GUI thread gets
the GIL between them and the pointer does not stall for the whole stroke."""

COARSE_TOLERANCE_PX = 0.75
"""Largest distance (image pixels) of the coarse outline from the exact one: < 1 screen pixel below 1:1 zoom."""

_ELEMENT = np.dtype([("type", ">i4"), ("x", ">f8"), ("y", ">f8")])  # QPainterPath::Element in QDataStream


@dataclass(frozen=True)
class OutlineSprite:
    """An outline already stroked for one zoom, so that showing it is a copy, not a stroke of every vertex.

    Attributes:
        image: premultiplied ARGB32, the outline drawn at ``scale`` (screen pixels per image pixel).
        scale: the zoom it was drawn for; any other zoom strokes the path instead.
        origin: ``(x, y)`` image coordinates of the image's top-left corner.
    """

    image: QImage
    scale: float
    origin: tuple[float, float]


@dataclass(frozen=True)
class MaskOutline:
    """The contour of one mask, ready to draw.

    Attributes:
        box: ``(x0, y0, x1, y1)`` image pixels, end exclusive: the bounding box of the mask's pixels (``None``:
            the mask is empty).
        path: every contour through the pixel centres (pixel ``(x, y)`` covers ``[x, x + 1)``), closed.
        coarse: the same contours within :data:`COARSE_TOLERANCE_PX` of ``path`` (for zooms below 1:1).
    """

    box: tuple[int, int, int, int] | None
    path: QPainterPath
    coarse: QPainterPath
    sprite: OutlineSprite | None = None

    def path_for(self, scale: float) -> QPainterPath:
        """The path to draw at ``scale`` screen pixels per image pixel: exact from 1:1 up, else coarse."""
        return self.path if scale >= 1.0 else self.coarse


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (end exclusive) of the non-zero pixels of ``mask`` (``H x W``), ``None`` if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[y0:y1].any(axis=0))
    return int(cols[0]), y0, int(cols[-1]) + 1, y1


def draw_outline(painter: QPainter, path: QPainterPath) -> None:
    """Stroke ``path`` with the outline's pens (:data:`OUTLINE_PENS`, cosmetic: a constant width on screen)."""
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for color, width in OUTLINE_PENS:
        pen = QPen(color, width)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawPath(path)


def render_sprite(
    outline: MaskOutline, scale: float, pieces: Sequence[QPainterPath] | None = None
) -> OutlineSprite | None:
    """``outline`` stroked at ``scale`` into an image (any thread may call it); ``None`` when it is empty or
    the image would exceed :data:`SPRITE_MAX_PIXELS`. ``pieces``: the path for ``scale``
    (``outline.path_for(scale)``) cut in pieces, stroked one call each (see :data:`SPRITE_PIECE_POINTS`)."""
    if outline.box is None or not scale > 0:
        return None
    x0, y0, x1, y1 = outline.box
    width = math.ceil((x1 - x0) * scale) + 2 * SPRITE_PAD
    height = math.ceil((y1 - y0) * scale) + 2 * SPRITE_PAD
    if width * height > SPRITE_MAX_PIXELS:
        return None
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.translate(SPRITE_PAD - x0 * scale, SPRITE_PAD - y0 * scale)
    painter.scale(scale, scale)
    paths = [outline.path_for(scale)] if pieces is None else pieces
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for (
        color,
        pen_width,
    ) in OUTLINE_PENS:  # every piece's dark line, then every piece's light one, as one path
        pen = QPen(color, pen_width)
        pen.setCosmetic(True)
        painter.setPen(pen)
        for path in paths:
            painter.drawPath(path)
    painter.end()
    return OutlineSprite(image, scale, (x0 - SPRITE_PAD / scale, y0 - SPRITE_PAD / scale))


def trace_outline(mask: np.ndarray, sprite_scale: float | None = None) -> MaskOutline:
    """The outline of ``mask`` (``H x W`` bool or integer, non-zero = inside); empty paths and ``box`` ``None``
    when the mask is empty. ``sprite_scale``: also stroke it into a sprite for this zoom (screen pixels per
    image pixel).

    Contours are traced on the bounding box (padded by one zero pixel, so that a mask touching the image border
    is closed along it as on the full image); the result equals tracing the full image."""
    box = mask_box(mask)
    if box is None:
        return MaskOutline(None, QPainterPath(), QPainterPath())
    x0, y0, x1, y1 = box
    crop = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
    crop[1:-1, 1:-1] = mask[y0:y1, x0:x1] != 0
    contours, _ = cv2.findContours(crop, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x0 - 1, y0 - 1))
    coarse = [cv2.approxPolyDP(c, COARSE_TOLERANCE_PX, True) for c in contours]
    if sprite_scale is None:
        return MaskOutline(box, contours_path(contours), contours_path(coarse))
    exact_pieces, coarse_pieces = _pieces(contours), _pieces(coarse)
    outline = MaskOutline(box, _joined(exact_pieces), _joined(coarse_pieces))
    pieces = exact_pieces if sprite_scale >= 1.0 else coarse_pieces
    return replace(outline, sprite=render_sprite(outline, sprite_scale, pieces))


def _pieces(contours: Sequence[np.ndarray]) -> list[QPainterPath]:
    """``contours`` as consecutive paths of about :data:`SPRITE_PIECE_POINTS` points each (at least one)."""
    pieces: list[QPainterPath] = []
    start = points = 0
    for k, contour in enumerate(contours):
        points += len(contour)
        if points >= SPRITE_PIECE_POINTS:
            pieces.append(contours_path(contours[start : k + 1]))
            start, points = k + 1, 0
    if start < len(contours) or not pieces:
        pieces.append(contours_path(contours[start:]))
    return pieces


def _joined(pieces: Sequence[QPainterPath]) -> QPainterPath:
    """One path of all ``pieces`` (as :func:`contours_path` of all their contours)."""
    if len(pieces) == 1:
        return pieces[0]
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for piece in pieces:
        path.addPath(piece)
    return path


def contours_path(contours: Sequence[np.ndarray]) -> QPainterPath:
    """A path of closed polygons through the centres of OpenCV contour pixels (each ``N x 1 x 2`` int).

    Built as the path's ``QDataStream`` bytes (element count, then type/x/y per element, the start of the last
    subpath and the fill rule), so the cost per point is NumPy's and Qt's, not a Python call per point."""
    # Each polygon closed by its first point again, as ``closeSubpath`` does; a lone pixel's one-point contour
    # draws nothing (as ``moveTo`` alone), so it is left out.
    polygons = [np.concatenate([p, p[:1]]) for p in (c.reshape(-1, 2) for c in contours) if len(p) > 1]
    if not polygons:
        return QPainterPath()
    sizes = np.array([len(p) for p in polygons])
    count = int(sizes.sum())
    elements = np.empty(count, _ELEMENT)
    points = np.concatenate(polygons).astype(np.float64) + 0.5
    elements["x"] = points[:, 0]
    elements["y"] = points[:, 1]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    elements["type"] = 1  # LineToElement
    elements["type"][starts] = 0  # MoveToElement
    tail = np.array([starts[-1], 0], ">i4")  # cStart (the last subpath's first element), Qt::OddEvenFill
    raw = QByteArray(np.array([count], ">i4").tobytes() + elements.tobytes() + tail.tobytes())
    path = QPainterPath()
    stream = QDataStream(raw, QIODevice.OpenModeFlag.ReadOnly)  # ``raw`` must outlive the stream
    stream >> path
    return path


def outline_for(
    labels: np.ndarray | None, masks: np.ndarray, outlines: Sequence[MaskOutline]
) -> MaskOutline | None:
    """The traced outline of ``labels`` when it is one of ``masks`` (a view of the same memory), else ``None``
    (a hand-painted mask, or an answer traced without outlines)."""
    if labels is None or len(outlines) != len(masks):
        return None
    address = labels.__array_interface__["data"][0]
    for mask, outline in zip(masks, outlines, strict=True):
        if mask.shape == labels.shape and mask.__array_interface__["data"][0] == address:
            return outline
    return None
