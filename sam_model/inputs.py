"""Checks of what callers hand an engine, shared by every engine: one message for one mistake.

Each raises the typed error of :mod:`sam_model.errors` (``ImageError``, ``PromptError``), never ``assert``.
"""

from __future__ import annotations

import numpy as np

from sam_model.errors import ImageError, PromptError
from sam_model.low_res import LOW_RES


def check_image(image: object) -> np.ndarray:
    """``image`` as a contiguous non-empty ``H x W x 3`` uint8 RGB array, or :class:`ImageError`."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be an H x W x 3 RGB NumPy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"image must be an H x W x 3 RGB array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ImageError(f"image must be uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def check_mask_input(mask_input: object) -> np.ndarray:
    """``mask_input`` (``1 x 256 x 256`` finite floats, the shape ``low_res_logits`` rows have) as float32, or
    :class:`PromptError`."""
    try:
        arr = np.asarray(mask_input)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"mask_input is not an array: {exc}") from exc
    if arr.shape != (1, LOW_RES, LOW_RES):
        raise PromptError(
            f"mask_input must be 1 x {LOW_RES} x {LOW_RES} low-res logits, got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
        raise PromptError("mask_input must be finite float logits")
    return arr.astype(np.float32)
