"""Turn a full-resolution mask into the ``1 x 256 x 256`` low-res logits a segmenter takes as ``mask_input``.

SAM's low-res frame is the image resized so its longest side is 1024, padded at the bottom/right to a square,
then downsampled 4x: the mask is scaled by ``256 / max(H, W)``, placed top-left and padded with background.
"""

from __future__ import annotations

import cv2
import numpy as np

LOW_RES = 256
LOGIT = 8.0  # confident but not saturated: further clicks can still change the object


def mask_to_logits(mask: np.ndarray, logit: float = LOGIT) -> np.ndarray:
    """``H x W`` bool -> ``1 x 256 x 256`` float32 logits: ``+logit`` inside, ``-logit`` outside and in padding."""
    h, w = mask.shape
    scale = LOW_RES / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(mask.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_AREA)
    out = np.full((1, LOW_RES, LOW_RES), -logit, np.float32)
    out[0, :new_h, :new_w] = np.where(small >= 0.5, logit, -logit)
    return out
