"""Checks of ``Sam2Predictor.predict``'s NumPy prompts (returned as batched arrays), and boxes as corner points.

SAM 2's ``predict`` takes one prompt set (``N x 2`` points, a ``4`` box, a ``1 x L x L`` mask) or a batch of
``B`` (``B x N x 2``, ``B x 4``, ``B x 1 x L x L``), as upstream's. Errors are ``PromptError`` naming the problem.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sam_model import inputs
from sam_model.errors import PromptError

VALID_LABELS = (-1, 0, 1, 2, 3)
"""1 positive, 0 negative, -1 ignored (padding), 2 / 3 top-left / bottom-right box corner."""


def check_points(point_coords: object, point_labels: object) -> tuple[np.ndarray, np.ndarray]:
    """``N x 2`` / ``B x N x 2`` coordinates and ``N`` / ``B x N`` labels -> ``B x N x 2`` float64, ``B x N`` int64."""
    if point_coords is None or point_labels is None:
        raise PromptError("point_coords and point_labels must be given together")
    coords = np.asarray(point_coords)
    labels = np.asarray(point_labels)
    if coords.ndim == 2:
        coords, labels = coords[None], labels[None]
    if coords.ndim != 3 or coords.shape[2] != 2 or coords.shape[1] == 0 or coords.shape[0] == 0:
        raise PromptError(f"point_coords must be N x 2 (or B x N x 2) with N >= 1, got shape {coords.shape}")
    if labels.shape != coords.shape[:2]:
        raise PromptError(f"point_labels must have shape {coords.shape[:2]}, got {labels.shape}")
    if not np.issubdtype(coords.dtype, np.number) or not np.all(np.isfinite(coords)):
        raise PromptError("point_coords must be finite numbers")
    if not np.issubdtype(labels.dtype, np.number) or not np.isin(labels, VALID_LABELS).all():
        raise PromptError(
            f"point_labels must be 1 (positive), 0 (negative), -1 (ignored) or 2 / 3 (box corners), got {labels}"
        )
    return coords.astype(np.float64), labels.astype(np.int64)


def check_boxes(box: object) -> np.ndarray:
    """``4`` / ``B x 4`` xyxy -> ``B x 4`` float64."""
    arr = np.asarray(box)
    given = arr.shape
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] == 0:
        raise PromptError(f"box must be 4 numbers (x0, y0, x1, y1) or B x 4, got shape {given}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise PromptError("box must be finite numbers")
    return arr.astype(np.float64)


def check_mask_input(mask_input: object) -> np.ndarray:
    """``1 x 256 x 256`` / ``B x 1 x 256 x 256`` low-res logits -> ``B x 1 x 256 x 256`` float32."""
    arr = np.asarray(mask_input)
    if arr.ndim != 4:
        return inputs.check_mask_input(arr)[None]
    if arr.shape[0] == 0 or arr.shape[1] != 1:
        raise PromptError(f"a batch of mask_input must be B x 1 x 256 x 256, got shape {arr.shape}")
    return np.stack([inputs.check_mask_input(m) for m in arr])


def merge_points(points: tuple[Tensor, Tensor] | None, boxes: Tensor | None) -> tuple[Tensor, Tensor] | None:
    """Boxes ``B x 4`` to two corner points labelled 2 and 3, placed before ``points`` (upstream's order).

    ``points``: ``(coords B x N x 2, labels B x N)``; the batches must match (``PromptError`` otherwise).
    """
    if boxes is None:
        return points
    corners = boxes.reshape(-1, 2, 2).float()
    corner_labels = torch.tensor([[2, 3]], dtype=torch.int64, device=boxes.device).expand(len(corners), 2)
    if points is None:
        return corners, corner_labels
    coords, labels = points
    if len(coords) != len(corners):
        raise PromptError(f"{len(corners)} boxes but {len(coords)} point sets: the batches must match")
    return torch.cat([corners, coords.float()], dim=1), torch.cat([corner_labels, labels.long()], dim=1)
