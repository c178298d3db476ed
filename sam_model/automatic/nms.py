"""Box non-maximum suppression, written here (no torchvision).

Semantics of ``torchvision.ops.batched_nms``: boxes ``(x0, y0, x1, y1)`` are visited by decreasing score; a
box is kept unless it overlaps an already kept box *of the same category* with IoU strictly greater than
``iou_threshold``. IoU uses areas ``(x1 - x0) * (y1 - y0)`` (no ``+ 1``). The kept indices come back sorted by
decreasing score.
"""

from __future__ import annotations

import numpy as np
import torch

_BLOCK = 1024
"""Rows of the IoU matrix computed at once: memory is ``_BLOCK x N`` instead of ``N x N``."""


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of ``A x 4`` and ``B x 4`` boxes ``(x0, y0, x1, y1)``. Returns ``A x B`` float.

    Two empty boxes have IoU 0.
    """
    a = boxes_a.float()
    b = boxes_b.float()
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(torch.float32).tiny), 0.0)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, categories: torch.Tensor | None, iou_threshold: float
) -> torch.Tensor:
    """Greedy NMS within each category.

    Args:
        boxes: ``N x 4`` boxes ``(x0, y0, x1, y1)``, pixels (any real dtype).
        scores: ``N`` scores; higher is better.
        categories: ``N`` integer category (or crop) ids, or ``None`` for a single category.
        iou_threshold: a box is suppressed by a kept one when their IoU is ``> iou_threshold``.

    Returns:
        ``K`` int64 indices into ``boxes`` of the kept boxes, by decreasing score (ties: lower index first).
    """
    n = boxes.shape[0]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be N x 4, got {tuple(boxes.shape)}")
    if scores.shape != (n,):
        raise ValueError(f"scores must have shape ({n},), got {tuple(scores.shape)}")
    if categories is not None and categories.shape != (n,):
        raise ValueError(f"categories must have shape ({n},), got {tuple(categories.shape)}")
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores.float(), descending=True, stable=True).indices
    sorted_boxes = boxes[order].float()
    sorted_cats = categories[order] if categories is not None else None
    suppressed = np.zeros(n, dtype=bool)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        over = box_iou(sorted_boxes[start:stop], sorted_boxes[start:]) > iou_threshold
        if sorted_cats is not None:
            over &= sorted_cats[start:stop, None] == sorted_cats[None, start:]
        over_np = over.cpu().numpy()
        for row in range(stop - start):
            i = start + row
            if suppressed[i]:
                continue
            # Later boxes (columns after the diagonal) that this kept box overlaps too much.
            suppressed[i + 1 :] |= over_np[row, row + 1 :]
    keep = torch.from_numpy(np.flatnonzero(~suppressed)).to(boxes.device)
    return order[keep]
