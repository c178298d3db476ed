"""labelme shapes (``shapes`` of a labelme 5.x JSON) as geometry: polygon rings, boxes and bitmap masks.

Coordinates are pixels of the image as displayed, ``x`` right, ``y`` down (labelme's canvas). Shape types:

* ``polygon`` (also a shape without ``shape_type``, as labelme 3 wrote): at least 3 points, a ring;
* ``rectangle``: two opposite corners (any order; more points: their bounding box), a box;
* ``circle``: the centre and a point on the circle, a ring of vertices every pixel or so along the circle;
* ``mask`` (labelme 5.3+): ``mask`` a base64 PNG of the box ``points[0]``..``points[1]``, its top-left corner
  at ``points[0]`` (floored), non-zero pixels inside;
* ``point``, ``points``, ``line``, ``linestrip`` (and anything else) cover no area: not importable.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from annotator.core import limits
from annotator.core.errors import LimitError

AREA_TYPES = ("polygon", "rectangle", "circle", "mask")


class ShapeError(ValueError):
    """A shape that cannot be read; the message says why (the caller names the file and shape)."""


@dataclass(frozen=True)
class Part:
    """One shape's geometry: exactly one of ``ring`` (flat ``x, y, ...``), ``box`` (``x, y, w, h``) and
    ``mask`` (``(x0, y0, array)``: a bool array whose top-left pixel is at column ``x0``, row ``y0``)."""

    ring: list[float] | None = None
    box: list[float] | None = None
    mask: tuple[int, int, np.ndarray] | None = None

    def rings(self) -> list[list[float]]:
        """The part as polygon rings (a box as its 4 corners); none for a mask."""
        if self.ring is not None:
            return [self.ring]
        if self.box is not None:
            x, y, w, h = self.box
            return [[x, y, x + w, y, x + w, y + h, x, y + h]]
        return []


def _points(shape: dict[str, Any], least: int) -> np.ndarray:
    points = shape.get("points")
    if not isinstance(points, list) or len(points) < least:
        raise ShapeError(f"needs at least {least} points")
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ShapeError("points must be [x, y] pairs of numbers") from None
    if array.ndim != 2 or array.shape[1] != 2 or not np.isfinite(array).all():
        raise ShapeError("points must be [x, y] pairs of finite numbers")
    return array


def read_part(shape: dict[str, Any], height: int, width: int) -> Part:
    """The geometry of one labelme shape; :class:`ShapeError` when it has no area or is malformed."""
    kind = shape.get("shape_type") or "polygon"
    if kind not in AREA_TYPES:
        raise ShapeError(f"shape_type {kind!r} covers no area: not importable")
    if kind == "polygon":
        points = _points(shape, 3)
        return Part(ring=[float(v) for v in points.ravel()])
    if kind == "rectangle":
        points = _points(shape, 2)
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        if x1 <= x0 or y1 <= y0:
            raise ShapeError("the rectangle has no width or height")
        return Part(box=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)])
    if kind == "circle":
        points = _points(shape, 2)
        (cx, cy), (px, py) = points[0], points[1]
        radius = math.hypot(px - cx, py - cy)
        if radius <= 0:
            raise ShapeError("the circle has no radius")
        if radius > 2 * max(height, width):
            raise ShapeError(f"radius {radius:g} is far larger than the {width}x{height} image")
        count = int(min(max(math.ceil(2 * math.pi * radius), 12), 720))
        angles = np.linspace(0.0, 2 * math.pi, count, endpoint=False)
        ring = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
        return Part(ring=[float(v) for v in ring.ravel()])
    return Part(mask=_mask_part(shape, height, width))


def _mask_part(shape: dict[str, Any], height: int, width: int) -> tuple[int, int, np.ndarray]:
    points = _points(shape, 1)
    data = shape.get("mask")
    if not isinstance(data, str) or not data:
        raise ShapeError("a mask shape without its base64 'mask'")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ShapeError("'mask' is not valid base64") from None
    try:
        with Image.open(io.BytesIO(raw)) as image:
            limits.check_pixels(*image.size)
            if image.width > width or image.height > height:
                raise ShapeError(
                    f"'mask' is {image.width}x{image.height}, larger than the {width}x{height} image"
                )
            array = np.array(image.convert("L") if image.mode not in ("1", "L", "P") else image) != 0
    except LimitError as exc:
        raise ShapeError(f"'mask' {exc}") from None
    except ShapeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ShapeError(f"'mask' is too large: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ShapeError("'mask' is not an image") from None
    if array.ndim != 2:
        raise ShapeError("'mask' is not a single-channel image")
    x0, y0 = points.min(axis=0)
    return math.floor(x0), math.floor(y0), array


def paste(mask: np.ndarray, part: tuple[int, int, np.ndarray]) -> None:
    """OR a mask part into the ``H x W`` image mask ``mask``, clipped to the image."""
    x0, y0, array = part
    height, width = mask.shape
    r0, c0 = max(y0, 0), max(x0, 0)
    r1, c1 = min(y0 + array.shape[0], height), min(x0 + array.shape[1], width)
    if r1 > r0 and c1 > c0:
        mask[r0:r1, c0:c1] |= array[r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]
