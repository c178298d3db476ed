"""The live mask's outline: traced once per mask (on its bounding box), covering exactly the mask's extent."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage, QPainter, QTransform
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from annotator.ui.overlay import OutlineItem
from annotator.workers.mask_outline import COARSE_TOLERANCE_PX, trace_outline


def test_outline_follows_mask_extent(qapp) -> None:
    mask = np.zeros((120, 200), bool)
    mask[30:70, 50:150] = True
    mask[90:100, 10:20] = True  # a second part
    item = OutlineItem()
    item.set_mask(mask)
    rect = item.boundingRect().adjusted(4, 4, -4, -4)  # remove the pen margin
    assert (rect.left(), rect.top()) == (10.5, 30.5)
    assert (rect.right(), rect.bottom()) == (149.5, 99.5)


def test_outline_cleared_by_none_and_empty_mask(qapp) -> None:
    item = OutlineItem()
    item.set_mask(np.ones((10, 10), bool))
    assert not item.boundingRect().isEmpty()
    item.set_mask(None)
    assert item.boundingRect().width() <= 8
    item.set_mask(np.zeros((10, 10), bool))
    assert item.boundingRect().width() <= 8


def _elements(path) -> list[tuple[float, float, bool]]:
    """``(x, y, starts_a_subpath)`` of every element of ``path``."""
    return [
        (path.elementAt(i).x, path.elementAt(i).y, path.elementAt(i).isMoveTo())
        for i in range(path.elementCount())
    ]


def _reference(mask: np.ndarray) -> list[tuple[float, float, bool]]:
    """What tracing the whole image point by point gives (pixel centres, each contour closed)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for contour in contours:
        points = contour.reshape(-1, 2)
        if len(points) < 2:
            continue  # a lone pixel draws nothing
        for k, (x, y) in enumerate([*points, points[0]]):
            out.append((float(x) + 0.5, float(y) + 0.5, k == 0))
    return out


def test_traced_on_the_box_equals_traced_on_the_image() -> None:
    rng = np.random.default_rng(3)
    for k in range(20):
        h, w = (int(v) for v in rng.integers(4, 60, 2))
        mask = rng.random((h, w)) < 0.5
        if k % 2:  # touching the image border
            mask[:] = False
            mask[int(rng.integers(0, h)) :, : int(rng.integers(1, w))] = True
        outline = trace_outline(mask)
        assert _elements(outline.path) == _reference(mask)
        ys, xs = np.nonzero(mask)
        assert outline.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    empty = trace_outline(np.zeros((5, 5), bool))
    assert empty.box is None and empty.path.isEmpty() and empty.coarse.isEmpty()


def test_coarse_outline_stays_within_its_tolerance_and_is_smaller() -> None:
    yy, xx = np.mgrid[:200, :300]
    mask = (xx - 150) ** 2 / 120**2 + (yy - 100) ** 2 / 70**2 <= 1  # staircase edges everywhere
    outline = trace_outline(mask)
    exact = np.array([(x, y) for x, y, _ in _elements(outline.path)])
    coarse = np.array([(x, y) for x, y, _ in _elements(outline.coarse)])
    assert len(coarse) < len(exact) / 2
    a, b = coarse[:-1], coarse[1:]  # one closed contour: consecutive vertices are its segments
    ab = b - a
    t = np.clip(((exact[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    distance = np.linalg.norm(exact[:, None] - (a + t[..., None] * ab), axis=-1).min(axis=1)
    assert distance.max() <= COARSE_TOLERANCE_PX + 1e-9


def _painted(item: OutlineItem, scale: float) -> QImage:
    image = QImage(400, 300, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setTransform(QTransform.fromScale(scale, scale))
    item.paint(painter, QStyleOptionGraphicsItem())
    painter.end()
    return image


def test_a_sprite_is_the_stroked_outline_at_its_zoom(qapp) -> None:
    mask = np.zeros((120, 160), bool)
    mask[30:70, 50:110] = True
    mask[40:50, 60:70] = False  # a hole
    stroked, copied = OutlineItem(), OutlineItem()
    stroked.set_mask(mask, trace_outline(mask))
    copied.set_mask(mask, trace_outline(mask, sprite_scale=2.0))
    assert stroked.sprite is None and copied.sprite is not None and copied.sprite.scale == 2.0
    assert _painted(copied, 2.0) == _painted(stroked, 2.0)  # the copy is pixel for pixel the stroke
    assert _painted(copied, 3.0) == _painted(stroked, 3.0)  # another zoom: stroked, not a scaled copy


def test_a_long_outline_is_stroked_in_pieces(qapp, monkeypatch) -> None:
    """Stroking holds the GIL (PySide), so a sprite of many contours is drawn in pieces of at most about
    ``SPRITE_PIECE_POINTS`` points: the same path, and the same picture up to where specks' strokes overlap."""
    from annotator.workers import mask_outline

    rng = np.random.default_rng(2)
    mask = rng.random((80, 120)) < 0.08  # speckles: hundreds of contours
    whole = trace_outline(mask)
    calls: list[int] = []
    real = QPainter.drawPath

    def spy(painter, path):
        calls.append(path.elementCount())
        return real(painter, path)

    monkeypatch.setattr(mask_outline, "SPRITE_PIECE_POINTS", 200)
    monkeypatch.setattr(QPainter, "drawPath", spy)
    pieced = trace_outline(mask, sprite_scale=2.0)
    monkeypatch.undo()
    assert pieced.path.elementCount() == whole.path.elementCount()
    assert pieced.path.boundingRect() == whole.path.boundingRect()
    assert len(calls) >= 2 * 5 and max(calls) < 200 + 50  # both pens, piece by piece
    assert sum(calls) == 2 * whole.path.elementCount()
    one = mask_outline.render_sprite(whole, 2.0)
    assert one is not None and pieced.sprite is not None
    a, b = _pixels(one.image), _pixels(pieced.sprite.image)
    assert a.shape == b.shape and np.mean(np.any(a != b, axis=-1)) < 0.05


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
