"""Longest-side resize and coordinate / box mapping between the original image and the encoder's input frame.

Normalisation and padding live in :meth:`sam_model.sam.model.Sam.preprocess`. No torchvision: the image resize
uses Pillow's bilinear filter on the ``uint8`` image, which is what upstream's ``torchvision`` ``resize`` does
on a PIL image, so the encoder input matches upstream's.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor


def get_preprocess_shape(old_h: int, old_w: int, long_side_length: int) -> tuple[int, int]:
    """``(h, w)`` after scaling so the longest side is ``long_side_length`` (rounded half up, at least 1:
    a very thin image, e.g. ``1 x 3000``, keeps one row instead of rounding to an empty image)."""
    scale = long_side_length * 1.0 / max(old_h, old_w)
    new_h, new_w = old_h * scale, old_w * scale
    return max(1, int(new_h + 0.5)), max(1, int(new_w + 0.5))


class ResizeLongestSide:
    """Resize images to longest side ``target_length`` and map coordinates / boxes into that frame.

    Coordinates are ``(x, y)`` pixels; ``original_size`` is always ``(H, W)`` of the original image.
    """

    def __init__(self, target_length: int) -> None:
        self.target_length = target_length

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """``H x W x 3`` uint8 -> ``h x w x 3`` uint8 with ``max(h, w) == target_length`` (PIL bilinear)."""
        h, w = get_preprocess_shape(image.shape[0], image.shape[1], self.target_length)
        if (h, w) == image.shape[:2]:
            return np.ascontiguousarray(image)
        return np.array(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))

    def _scale(self, original_size: tuple[int, int]) -> tuple[float, float]:
        old_h, old_w = original_size
        new_h, new_w = get_preprocess_shape(old_h, old_w, self.target_length)
        return new_w / old_w, new_h / old_h

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """``... x 2`` coordinates in the original image -> the resized frame (float64 copy)."""
        sx, sy = self._scale(original_size)
        out = np.array(coords, dtype=np.float64)
        out[..., 0] *= sx
        out[..., 1] *= sy
        return out

    def apply_boxes(self, boxes: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """``... x 4`` xyxy boxes in the original image -> ``N x 4`` in the resized frame."""
        return self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size).reshape(-1, 4)

    def apply_coords_torch(self, coords: Tensor, original_size: tuple[int, int]) -> Tensor:
        """Torch version of :meth:`apply_coords` (``... x 2``, float result, a new tensor)."""
        sx, sy = self._scale(original_size)
        scale = torch.tensor([sx, sy], dtype=torch.float32, device=coords.device)
        return coords.float() * scale

    def apply_boxes_torch(self, boxes: Tensor, original_size: tuple[int, int]) -> Tensor:
        """Torch version of :meth:`apply_boxes` (``N x 4``)."""
        return self.apply_coords_torch(boxes.reshape(-1, 2, 2), original_size).reshape(-1, 4)


def upscale_logits(
    logits: np.ndarray,
    image_size: int,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    *,
    threshold: float | None = None,
) -> np.ndarray:
    """Low-res mask logits to the original image, like upstream's ``Sam.postprocess_masks``.

    Bilinear (half-pixel centres, no antialiasing) to ``image_size x image_size``, crop to ``input_size``,
    bilinear to ``original_size``: the same two steps, done by OpenCV on channels-last float32 (equal to
    PyTorch's ``interpolate`` up to float rounding, about 1e-6, and an order of magnitude faster on CPU).
    When ``image_size`` is a whole multiple ``f`` of the low-res side, the first step enlarges only the
    low-res cells the crop reads (one cell of margin): a pixel of a ``f``-times enlargement depends only on
    its two nearest cells per axis, so this is the same result without the padding's share of the work.
    With ``image_size`` equal to the low-res side (SAM 2) the first step is skipped.

    Args:
        logits: ``N x h x w`` float32 (``h = w = 256``).
        image_size: side of the padded encoder input (1024); input_size: ``(h, w)`` after the resize;
        original_size: ``(H, W)`` of the image.
        threshold: when given, return ``logits > threshold`` (bool), thresholded before the final
            channels-first copy.
    Returns:
        ``N x H x W`` float32 logits, or bool masks with ``threshold``.
    """
    n, side = logits.shape[0], logits.shape[-1]
    big_h, big_w = original_size
    out: np.ndarray = np.empty((n, big_h, big_w), dtype=np.float32 if threshold is None else np.bool_)
    factor = image_size // side if image_size % side == 0 and logits.shape[-2] == side else 0
    rows, cols = logits.shape[-2], side
    if factor:  # the low-res cells the crop reads, plus one of margin
        rows = min(rows, -(-input_size[0] // factor) + 1)
        cols = min(cols, -(-input_size[1] // factor) + 1)
    for start in range(0, n, _CV_MAX_CHANNELS):
        part = logits[start : start + _CV_MAX_CHANNELS, :rows, :cols]
        chunk = np.ascontiguousarray(part.transpose(1, 2, 0), np.float32)
        up: np.ndarray = chunk
        if factor > 1:
            up = cv2.resize(chunk, (cols * factor, rows * factor), interpolation=cv2.INTER_LINEAR)
        elif not factor:
            up = cv2.resize(chunk, (image_size, image_size), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(up.shape[0], up.shape[1], -1)[: input_size[0], : input_size[1]]
        down: np.ndarray = cv2.resize(up, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
        down = down.reshape(big_h, big_w, -1)
        if threshold is not None:
            down = down > threshold
        out[start : start + chunk.shape[2]] = down.transpose(2, 0, 1)
    return out


_CV_MAX_CHANNELS = 128
"""Masks per OpenCV call: OpenCV 5 takes at most 128 channels (OpenCV 4: 512)."""
