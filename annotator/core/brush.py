"""Brush and eraser strokes painted into a mask, in place, touching only the stroke's bounding box.

Coordinates are pixels of the displayed image (``x`` = column, ``y`` = row, floats allowed; a point covers the
pixel it falls in). ``radius`` is in pixels: a disc of radius ``r`` around a pixel centre.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import cv2
import numpy as np

from annotator.core.errors import MaskError

Box = tuple[int, int, int, int]
"""``(x, y, w, h)`` in pixels."""


def apply_stroke(
    mask: np.ndarray, points: Sequence[tuple[float, float]], radius: float, *, erase: bool = False
) -> Box:
    """Paint (``erase=False``) or erase a stroke through ``points`` with a round brush, in place.

    Args:
        mask: ``H x W`` writable bool array (e.g. ``instance.mask.array().copy()``).
        points: ``(x, y)`` pixel positions along the drag, in order (one point paints a disc).
        radius: brush radius in pixels (>= 0; 0 paints single pixels).
        erase: clear instead of set.

    Returns:
        ``(x, y, w, h)`` of the region that may have changed (``(0, 0, 0, 0)`` when outside the image), for
        repainting.
    """
    if mask.ndim != 2 or mask.dtype != bool:
        raise MaskError(f"the mask must be an H x W bool array, got {mask.dtype} {mask.shape}")
    if not mask.flags.writeable:
        raise MaskError("the mask is read-only: paint into a copy (mask.array().copy())")
    if radius < 0 or not np.isfinite(radius):
        raise MaskError(f"brush radius must be a finite number >= 0, got {radius}")
    if not points:
        return 0, 0, 0, 0
    pts = np.floor(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int64)
    r = round(radius)
    height, width = mask.shape
    x0, y0 = max(int(pts[:, 0].min()) - r, 0), max(int(pts[:, 1].min()) - r, 0)
    x1, y1 = min(int(pts[:, 0].max()) + r + 1, width), min(int(pts[:, 1].max()) + r + 1, height)
    if x1 <= x0 or y1 <= y0:
        return 0, 0, 0, 0
    canvas = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    local = [(int(x - x0), int(y - y0)) for x, y in pts]
    for x, y in local:
        cv2.circle(canvas, (x, y), r, 1, thickness=-1, lineType=cv2.LINE_8)
    for (xa, ya), (xb, yb) in itertools.pairwise(local):
        cv2.line(canvas, (xa, ya), (xb, yb), 1, thickness=2 * r + 1, lineType=cv2.LINE_8)
    region = mask[y0:y1, x0:x1]
    if erase:
        region &= canvas == 0
    else:
        region |= canvas != 0
    return x0, y0, x1 - x0, y1 - y0


def apply_disc(mask: np.ndarray, x: float, y: float, radius: float, *, erase: bool = False) -> Box:
    """Paint or erase one disc (a click with the brush); see :func:`apply_stroke`."""
    return apply_stroke(mask, [(x, y)], radius, erase=erase)
