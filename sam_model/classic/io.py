"""Input checks and resolution mapping of the classical engine (:mod:`sam_model.classic.segmenter`).

Three grids are involved: the original image (``H x W``), the engine's working grid (``h x w``, longest side
at most ``WORK_SIZE``) and SAM's low-resolution logits grid (``256 x 256``, the image resized so its longest
side is 256 and padded bottom/right), which is what ``low_res_logits`` / ``mask_input`` use.
"""

from __future__ import annotations

import cv2
import numpy as np

from sam_model.errors import PromptError
from sam_model.low_res import LOW_RES, LowResFrame

LOGIT_CLIP = 20.0
"""Low-res logits are signed distances (low-res pixels) times ``LOGIT_SCALE``, clipped to this value."""

LOGIT_SCALE = 4.0


def check_points(
    point_coords: object, point_labels: object, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate clicks. Returns ``(N x 2 float64 (x, y), N int64 labels in {0, 1})``; ``N`` may be 0.

    ``size`` is ``(H, W)`` of the original image; points may lie on ``[0, W] x [0, H]`` (edges included).
    """
    if point_coords is None and point_labels is None:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    if point_coords is None or point_labels is None:
        raise PromptError("point_coords and point_labels must be given together")
    try:
        coords = np.asarray(point_coords, dtype=np.float64)
        labels = np.asarray(point_labels)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"points are not numeric arrays: {exc}") from exc
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise PromptError(f"point_coords must be N x 2, got shape {coords.shape}")
    if labels.shape != (coords.shape[0],):
        raise PromptError(f"point_labels must have shape ({coords.shape[0]},), got {labels.shape}")
    if not np.all(np.isfinite(coords)):
        raise PromptError("point_coords contains NaN or infinity")
    if labels.size and not np.all(np.isin(labels, (0, 1))):
        raise PromptError(f"point_labels must be 0 (negative) or 1 (positive), got {np.unique(labels)}")
    height, width = size
    outside = (coords[:, 0] < 0) | (coords[:, 0] > width) | (coords[:, 1] < 0) | (coords[:, 1] > height)
    if np.any(outside):
        raise PromptError(
            f"point {coords[np.argmax(outside)].tolist()} lies outside the {width}x{height} image"
        )
    return coords, labels.astype(np.int64)


def check_box(box: object, size: tuple[int, int]) -> np.ndarray | None:
    """Validate a box ``(x0, y0, x1, y1)`` (shape ``4`` or ``1 x 4``); returns it clipped to the image."""
    if box is None:
        return None
    try:
        arr = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"box is not numeric: {exc}") from exc
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise PromptError(f"box must be 4 finite numbers (x0, y0, x1, y1), got {box!r}")
    height, width = size
    x0, y0, x1, y1 = arr
    if x1 <= x0 or y1 <= y0:
        raise PromptError(f"box must have x1 > x0 and y1 > y0, got {arr.tolist()}")
    clipped = np.array([max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height)])
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise PromptError(f"box {arr.tolist()} lies outside the {width}x{height} image")
    return clipped


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance to the mask boundary, ``> 0`` inside: ``h x w`` bool -> ``h x w`` float32 pixels.

    Pixel centres are half a pixel from the boundary, so a one-pixel object has distance 0.5 on its pixel.
    """
    m = mask.astype(np.uint8)
    if not m.any():
        return np.full(mask.shape, -float(max(mask.shape)), np.float32)
    if m.all():
        return np.full(mask.shape, float(max(mask.shape)), np.float32)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return np.where(m > 0, inside - 0.5, 0.5 - outside).astype(np.float32)


def to_low_res(sd_work: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Working-grid signed distance -> ``256 x 256`` float32 logits (image region top-left, rest negative)."""
    lh, lw = LowResFrame.LONGEST_SIDE.extent(size)
    h = sd_work.shape[0]
    resized = cv2.resize(sd_work, (lw, lh), interpolation=cv2.INTER_LINEAR) * (lh / h)
    out = np.full((LOW_RES, LOW_RES), -LOGIT_CLIP, np.float32)
    out[:lh, :lw] = np.clip(resized * LOGIT_SCALE, -LOGIT_CLIP, LOGIT_CLIP)
    return out


def from_low_res(logits: np.ndarray, size: tuple[int, int], work_shape: tuple[int, int]) -> np.ndarray:
    """``256 x 256`` logits -> working-grid ``h x w`` bool mask (logit > 0)."""
    lh, lw = LowResFrame.LONGEST_SIDE.extent(size)
    h, w = work_shape
    region = np.ascontiguousarray(logits[:lh, :lw], dtype=np.float32)
    return cv2.resize(region, (w, h), interpolation=cv2.INTER_LINEAR) > 0


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s guided filter as ``(a, b)``, the filtered image being ``a * guide + b``.

    ``guide``, ``src``: ``H x W`` float32; returns two ``H x W`` float32 arrays. Computed on a subsampled grid
    and resized, ``a`` and ``b`` give the *fast* guided filter (He and Sun 2015) of the full-resolution guide.
    """
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, ksize, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a), box(b)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-aware smoothing (He et al.'s guided filter). ``guide``, ``src``: ``H x W`` float32."""
    a, b = guided_coefficients(guide, src, radius, eps)
    return a * guide + b
