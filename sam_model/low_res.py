"""The low-resolution mask frame: how an image maps onto the ``256 x 256`` grid of ``low_res_logits`` /
``mask_input``.

Each engine says which frame its logits use (``Segmenter.low_res_frame``), and this module is the one place that
knows what that means:

* ``LONGEST_SIDE`` (SAM v1, MobileSAM, the classical engine): the image is resized so its longest side fills the
  grid and padded at the bottom/right: it covers the top-left ``lh x lw`` of the grid.
* ``SQUARE`` (SAM 2 / 2.1): the image is resized to a square, without keeping its aspect ratio: it covers the
  whole grid.
"""

from __future__ import annotations

import enum

import cv2
import numpy as np

LOW_RES = 256
"""Side of the low-resolution mask grid, in grid cells."""

SEED_LOGIT = 8.0
"""Logit of a mask turned into a ``mask_input``: confident, but further clicks can still change the object."""


class LowResFrame(enum.Enum):
    """Where the image lies on the ``256 x 256`` low-res grid (see the module docstring)."""

    LONGEST_SIDE = "longest_side"
    SQUARE = "square"

    def extent(self, size: tuple[int, int]) -> tuple[int, int]:
        """``(lh, lw)``: the top-left part of the grid that an ``H x W`` image (``size``) covers."""
        if self is LowResFrame.SQUARE:
            return LOW_RES, LOW_RES
        height, width = size
        scale = LOW_RES / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def mask_to_logits(self, mask: np.ndarray, logit: float = SEED_LOGIT) -> np.ndarray:
        """``H x W`` bool mask -> ``1 x 256 x 256`` float32 logits in this frame: ``+logit`` inside, ``-logit``
        outside and in the padding (area-averaged, then thresholded at half coverage)."""
        lh, lw = self.extent((int(mask.shape[0]), int(mask.shape[1])))
        small = cv2.resize(mask.astype(np.float32), (lw, lh), interpolation=cv2.INTER_AREA)
        out = np.full((1, LOW_RES, LOW_RES), -logit, np.float32)
        out[0, :lh, :lw] = np.where(small >= 0.5, logit, -logit)
        return out
