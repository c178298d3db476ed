"""Edge-aware upsampling of the classical engine's cuts (working grid ``h x w`` -> image ``H x W``).

A cut's signed distance is turned into a soft mask and smoothed by a *fast guided filter* (He and Sun 2015)
whose guide is the image in grey: the filter's coefficients ``a, b`` are computed on the guide's low grid
(:data:`sam_model.classic.segmenter.GUIDE_FACTOR` times the working grid), resized to the image and applied
as ``a * guide + b``. For a mask only the pixels within :data:`MARGIN` working-grid pixels of the cut's
boundary can change sign, so only the tiles that hold them are filtered at full resolution; the rest is the
nearest working-grid label.
"""

from __future__ import annotations

import cv2
import numpy as np

from sam_model.classic.io import guided_coefficients

MARGIN = 4.0
"""Working-grid pixels from the cut's boundary beyond which the filter keeps the cut's label."""

TILE = 16
"""Side of the working-grid tiles whose uncertain ones are filtered (runs of them along a row at once)."""

EPS = 1e-3
"""Regularisation of the guided filter (grey levels in [0, 1])."""

LOGIT_RANGE = 20.0
"""Logits are ``(filtered - 0.5) * LOGIT_RANGE``, clipped to ``[-LOGIT_RANGE, LOGIT_RANGE]``."""


def upsample(
    sd: np.ndarray,
    size: tuple[int, int],
    guide: np.ndarray | None,
    guide_low: np.ndarray | None,
    return_logits: bool,
) -> np.ndarray:
    """A working-grid cut's signed distance -> the image's mask.

    Args:
        sd: ``h x w`` float32 signed distance of the cut, working-grid pixels, ``> 0`` inside.
        size: ``(H, W)`` of the image.
        guide: ``H x W`` float32 grey image in [0, 1], or ``None`` (bilinear upsampling only).
        guide_low: ``guide`` resized to the filter's low grid (``gh x gw``, ``gh >= h``), or ``None``.
        return_logits: return float32 logits (``> 0`` inside) instead of a bool mask.

    Returns:
        ``H x W`` bool mask, or float32 logits in ``[-LOGIT_RANGE, LOGIT_RANGE]``.
    """
    height, width = size
    h, w = sd.shape
    if (h, w) == (height, width):
        return np.clip(sd, -LOGIT_RANGE, LOGIT_RANGE).astype(np.float32) if return_logits else sd > 0
    if guide is None or guide_low is None:
        up = cv2.resize(sd, (width, height), interpolation=cv2.INTER_LINEAR) * (height / h)
        return np.clip(up, -LOGIT_RANGE, LOGIT_RANGE).astype(np.float32) if return_logits else up > 0
    gh, gw = guide_low.shape
    radius = max(1, round(gh / h))  # a working-grid pixel, in low-grid pixels
    sd_low = cv2.resize(sd, (gw, gh), interpolation=cv2.INTER_LINEAR) * (gh / h)
    soft = (1.0 / (1.0 + np.exp(-np.clip(sd_low, -LOGIT_RANGE, LOGIT_RANGE) / radius))).astype(np.float32)
    a, b = guided_coefficients(guide_low, soft, radius, EPS)
    if return_logits:
        filtered = _apply(a, b, guide, (0, height, 0, width))
        return np.clip((filtered - 0.5) * LOGIT_RANGE, -LOGIT_RANGE, LOGIT_RANGE).astype(np.float32)
    mask = cv2.resize((sd > 0).view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).view(bool)
    for top, bottom, left, right in _uncertain_boxes(np.abs(sd) <= MARGIN):
        # Working-grid rows/columns [top, bottom) x [left, right) -> image pixels.
        box = (
            top * height // h,
            -(-bottom * height // h),
            left * width // w,
            -(-right * width // w),
        )
        mask[box[0] : box[1], box[2] : box[3]] = _apply(a, b, guide, box) > 0.5
    return mask


def _uncertain_boxes(uncertain: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes ``(top, bottom, left, right)`` (working-grid pixels, ends excluded) covering the ``True`` pixels of
    ``uncertain`` (``h x w`` bool) one pixel wider: runs of :data:`TILE`-pixel tiles along each tile row that hold
    one. Far fewer image pixels than the bounding box when the boundary is long."""
    h, w = uncertain.shape
    grown = cv2.dilate(uncertain.view(np.uint8), np.ones((3, 3), np.uint8))
    rows, cols = -(-h // TILE), -(-w // TILE)
    padded = np.zeros((rows * TILE, cols * TILE), np.uint8)
    padded[:h, :w] = grown
    occupied = padded.reshape(rows, TILE, cols, TILE).max(axis=(1, 3)).astype(np.int8)
    border = np.zeros(1, np.int8)
    boxes = []
    for row in range(rows):
        # Starts and ends of the runs of occupied tiles along this row.
        edges = np.flatnonzero(np.diff(np.concatenate((border, occupied[row], border))))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            boxes.append((row * TILE, min(h, (row + 1) * TILE), start * TILE, min(w, end * TILE)))
    return boxes


def _apply(a: np.ndarray, b: np.ndarray, guide: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``a * guide + b`` on the image pixels ``box = (top, bottom, left, right)``, ``a`` and ``b`` (low grid)
    resized bilinearly to the image as ``cv2.resize`` would (pixel centres aligned), in float32."""
    top, bottom, left, right = box
    height, width = guide.shape
    sy, sx = a.shape[0] / height, a.shape[1] / width
    # Inverse map of the box's pixel (u, v) to the low grid: x = (left + u + 0.5) * sx - 0.5.
    matrix = np.array([[sx, 0.0, (left + 0.5) * sx - 0.5], [0.0, sy, (top + 0.5) * sy - 0.5]])
    dsize = (right - left, bottom - top)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    coeff_a = cv2.warpAffine(a, matrix, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    coeff_b = cv2.warpAffine(b, matrix, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return cv2.add(cv2.multiply(coeff_a, guide[top:bottom, left:right]), coeff_b)
