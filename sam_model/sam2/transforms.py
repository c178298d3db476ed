"""SAM 2's input transforms: square resize, normalisation, and coordinates normalised by the original size.

Upstream (``sam2/utils/transforms.py``) scales the ``uint8`` RGB image to [0, 1], resizes it to a square
``resolution x resolution`` (the aspect ratio is not kept) with torchvision's tensor ``Resize`` (bilinear,
antialiased), and normalises with the ImageNet mean / std. Points ``(x, y)`` in original pixels map to
``(x / W * resolution, y / H * resolution)``. Here the resize is PyTorch's own ``interpolate`` with
``antialias=True``, which is what torchvision's tensor resize calls, so no torchvision is needed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)
"""ImageNet mean / std, applied to the [0, 1]-scaled RGB image."""


class Sam2Transforms:
    """SAM 2's image preprocessing and the mapping of prompts into the ``resolution x resolution`` input frame.

    ``original_size`` is always ``(H, W)`` of the original image; coordinates are ``(x, y)`` pixels.
    """

    def __init__(self, resolution: int) -> None:
        self.resolution = int(resolution)

    @property
    def input_size(self) -> tuple[int, int]:
        """``(h, w)`` of every resized image: the square ``(resolution, resolution)``."""
        return (self.resolution, self.resolution)

    def prepare_image(self, image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
        """``H x W x 3`` uint8 RGB -> ``1 x 3 x R x R`` float32, resized and normalised (the trunk's input)."""
        src = (
            image if image.flags.writeable else image.copy()
        )  # torch warns on read-only arrays (cached pixels)
        x = torch.as_tensor(src, device=device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(PIXEL_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(PIXEL_STD, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def _scale(self, original_size: tuple[int, int]) -> tuple[float, float]:
        h, w = original_size
        return self.resolution / w, self.resolution / h

    def apply_coords(self, coords: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """``... x 2`` coordinates in the original image -> the input frame (float64 copy)."""
        sx, sy = self._scale(original_size)
        out = np.array(coords, dtype=np.float64)
        out[..., 0] *= sx
        out[..., 1] *= sy
        return out

    def apply_boxes(self, boxes: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
        """``... x 4`` xyxy boxes in the original image -> ``N x 4`` in the input frame."""
        return self.apply_coords(np.asarray(boxes).reshape(-1, 2, 2), original_size).reshape(-1, 4)

    def apply_coords_torch(self, coords: Tensor, original_size: tuple[int, int]) -> Tensor:
        """Torch version of :meth:`apply_coords` (``... x 2``, float32 result, a new tensor).

        Divides by the original width / height first, then multiplies by the resolution, as upstream does.
        """
        h, w = original_size
        size = torch.tensor([w, h], dtype=torch.float32, device=coords.device)
        return coords.float() / size * self.resolution

    def apply_boxes_torch(self, boxes: Tensor, original_size: tuple[int, int]) -> Tensor:
        """Torch version of :meth:`apply_boxes` (``N x 4``)."""
        return self.apply_coords_torch(boxes.reshape(-1, 2, 2), original_size).reshape(-1, 4)
