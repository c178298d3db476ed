"""Hover previews at the screen's resolution, with their edge marked, made off the GUI thread (Qt-free).

A hover preview is shown for a moment under a resting pointer: what matters is that it comes fast and never
stalls the pointer, and that it looks like the mask a click there would give. The segment worker therefore
scales the best mask down to at most the resolution the view shows it at (:func:`preview_scale`: the view's
zoom, never above 1:1 nor above :data:`PREVIEW_MAX_PIXELS`), and marks its edge with one erosion and one
dilation instead of tracing contours: the cost is bounded by the preview's pixels whatever the mask's shape (a
speckled mask of thousands of specks costs what a disc costs: tracing and stroking those took 150-250 ms, and
stroking a path holds Python's GIL, which stalled the pointer), and every step is an OpenCV or NumPy call that
releases the GIL. The canvas draws the labels through a colour table, scaled to the image.

A click still gets the full-resolution mask and its traced outline (``mask_outline``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

PREVIEW_MAX_PIXELS = 1 << 21
"""Most pixels in a preview (2.1 MP: a 1920 x 1080 image at 1:1 keeps all of its own): bounds its cost (about
10 ms at this size) when the view is zoomed in on a bigger image."""

FILL, EDGE_IN, EDGE_OUT = 1, 2, 3
"""Preview labels: inside the mask, the mask's own border pixels (drawn light), the pixels just outside it
(drawn dark); 0 is outside."""

_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class MaskPreview:
    """A mask as a hover preview shows it.

    Attributes:
        labels: ``h x w`` uint8, C-contiguous: 0 outside, :data:`FILL`, :data:`EDGE_IN`, :data:`EDGE_OUT`;
            preview pixel ``(i, j)`` covers image pixels ``[j W / w, (j + 1) W / w) x [i H / h, (i + 1) H / h)``.
        image_size: ``(H, W)`` of the image, in pixels.
        box: ``(x0, y0, x1, y1)`` image pixels, end exclusive, covering every non-zero label (``None``: the mask
            is empty).
    """

    labels: np.ndarray
    image_size: tuple[int, int]
    box: tuple[int, int, int, int] | None

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)``: preview pixels per image pixel."""
        return self.labels.shape[1] / self.image_size[1], self.labels.shape[0] / self.image_size[0]

    def mask(self) -> np.ndarray:
        """``h x w`` bool: inside the mask (fill and inner edge)."""
        return (self.labels == FILL) | (self.labels == EDGE_IN)


def preview_scale(image_size: tuple[int, int], view_scale: float | None) -> float:
    """Preview pixels per image pixel for an ``(H, W)`` image shown at ``view_scale`` screen pixels per image
    pixel (``None``: not known, 1:1): at most 1, at most the view's zoom, at most :data:`PREVIEW_MAX_PIXELS`."""
    height, width = image_size
    scale = min(1.0, math.sqrt(PREVIEW_MAX_PIXELS / max(1, height * width)))
    if view_scale is not None and view_scale > 0:
        scale = min(scale, float(view_scale))
    return scale


def preview_size(image_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(h, w)`` of a preview of an ``(H, W)`` image at ``scale`` (at least one pixel each way)."""
    height, width = image_size
    return max(1, round(height * scale)), max(1, round(width * scale))


def mask_preview(mask: np.ndarray, view_scale: float | None) -> MaskPreview:
    """The preview of ``mask`` (``H x W`` bool or integer, non-zero = inside) for a view at ``view_scale``.

    Scaled down bilinearly (a preview pixel is inside when the mask interpolated at its centre is at least a
    half; ``INTER_AREA`` is ten times slower at a fractional scale, for no visible difference), then the edge:
    inside pixels with an outside 8-neighbour are :data:`EDGE_IN` (the image border counts as outside, so a
    mask touching it is closed along it), outside pixels with an inside 8-neighbour are :data:`EDGE_OUT`."""
    full = mask.view(np.uint8) if mask.dtype == np.bool_ else (mask != 0).view(np.uint8)
    image_size = (int(full.shape[0]), int(full.shape[1]))
    h, w = preview_size(image_size, preview_scale(image_size, view_scale))
    if (h, w) == image_size:
        small = np.ascontiguousarray(full)
    else:  # uint8 0/1 interpolated and rounded
        small = cv2.resize(np.ascontiguousarray(full), (w, h), interpolation=cv2.INTER_LINEAR)
    return marked_preview(small, image_size)


def marked_preview(small: np.ndarray, image_size: tuple[int, int]) -> MaskPreview:
    """The preview of an ``(H, W)`` image's mask already at the preview's resolution (``small``: ``h x w``
    uint8 0/1, C-contiguous), its edges marked (see :func:`mask_preview`)."""
    inner = cv2.erode(small, _KERNEL, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    outer = cv2.dilate(small, _KERNEL)
    labels = small + (small - inner)  # FILL inside, EDGE_IN on its border (inner <= small <= outer)
    labels += (outer - small) * np.uint8(EDGE_OUT)  # EDGE_OUT just outside
    return MaskPreview(labels, image_size, _image_box(outer, image_size))


def _image_box(labels: np.ndarray, image_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The image pixels covered by the non-zero preview pixels of ``labels`` (``h x w``), end exclusive."""
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(labels[rows[0] : rows[-1] + 1].any(axis=0))
    h, w = labels.shape
    height, width = image_size
    return (
        int(cols[0]) * width // w,
        int(rows[0]) * height // h,
        min(width, -(-(int(cols[-1]) + 1) * width // w)),
        min(height, -(-(int(rows[-1]) + 1) * height // h)),
    )
