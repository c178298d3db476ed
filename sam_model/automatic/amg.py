"""Helpers of the automatic mask generator: crops, point grids, stability, RLE, boxes, clean-up.

Semantics follow upstream segment-anything's ``utils/amg.py`` (checked against
``shared/reference/sam/amg_utils_ref.json``); the code is written anew and typed. Conventions:

* boxes are ``(x0, y0, x1, y1)``; boxes *computed from masks* use inclusive pixel indices (a mask covering
  the whole ``H x W`` image has box ``(0, 0, W - 1, H - 1)``), crop boxes are exclusive (``(0, 0, W, H)``);
* an uncompressed RLE is ``{"size": [H, W], "counts": [int, ...]}`` over the column-major (Fortran) order,
  starting with a run of zeros (possibly of length 0), as pycocotools expects;
* masks are ``... x H x W`` bool tensors or arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import product
from typing import Any, Literal

import cv2
import numpy as np
import torch

UncompressedRle = dict[str, Any]
"""``{"size": [H, W], "counts": list[int]}``, column-major runs starting with zeros."""

OutputMode = Literal["binary_mask", "uncompressed_rle", "coco_rle"]
"""How a generator's records carry their ``segmentation`` (see :func:`encode_segmentation`)."""


class MaskData:
    """Named per-mask columns (tensors, arrays or lists) that are filtered and concatenated together.

    Every column holds one entry per mask along its first axis.
    """

    def __init__(self, **columns: Any) -> None:
        self._columns: dict[str, Any] = {}
        for key, value in columns.items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(value, list | np.ndarray | torch.Tensor):
            raise TypeError(f"MaskData column {key!r} must be a list, array or tensor, not {type(value)}")
        self._columns[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._columns[key]

    def __delitem__(self, key: str) -> None:
        del self._columns[key]

    def __contains__(self, key: object) -> bool:
        return key in self._columns

    def __len__(self) -> int:
        for value in self._columns.values():
            return len(value)
        return 0

    def keys(self) -> list[str]:
        return list(self._columns)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self._columns.items())

    def filter(self, keep: torch.Tensor | np.ndarray | Sequence[int] | Sequence[bool]) -> None:
        """Keep the rows selected by ``keep`` (a bool mask or an index list), in every column."""
        keep_t = torch.as_tensor(np.asarray(keep) if not isinstance(keep, torch.Tensor) else keep)
        if keep_t.dtype == torch.bool:
            index = torch.nonzero(keep_t.cpu(), as_tuple=True)[0]
        else:
            index = keep_t.cpu().long()
        for key, value in self._columns.items():
            if isinstance(value, torch.Tensor):
                self._columns[key] = value[index.to(value.device)]
            elif isinstance(value, np.ndarray):
                self._columns[key] = value[index.numpy()]
            else:
                self._columns[key] = [value[i] for i in index.tolist()]

    def cat(self, other: MaskData) -> None:
        """Append ``other``'s rows (columns missing here are taken over as they are)."""
        for key, value in other.items():
            if key not in self._columns or (len(self) == 0 and len(self._columns[key]) == 0):
                self._columns[key] = value
            elif isinstance(value, torch.Tensor):
                self._columns[key] = torch.cat([self._columns[key], value.to(self._columns[key].device)])
            elif isinstance(value, np.ndarray):
                self._columns[key] = np.concatenate([self._columns[key], value], axis=0)
            else:
                self._columns[key] = list(self._columns[key]) + list(value)

    def to_numpy(self) -> None:
        """Turn every tensor column into a NumPy array."""
        for key, value in self._columns.items():
            if isinstance(value, torch.Tensor):
                self._columns[key] = value.detach().cpu().numpy()


def batch_iterator(batch_size: int, *args: Sequence[Any] | np.ndarray) -> Iterator[list[Any]]:
    """Yield aligned slices of ``batch_size`` rows of every argument (all of the same length)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = {len(a) for a in args}
    if len(lengths) > 1:
        raise ValueError("batch_iterator arguments must all have the same length")
    n = lengths.pop() if lengths else 0
    for start in range(0, n, batch_size):
        yield [a[start : start + batch_size] for a in args]


def build_point_grid(n_per_side: int) -> np.ndarray:
    """``n_per_side**2 x 2`` points ``(x, y)`` in ``[0, 1]``, cell centres of an even grid, x fastest."""
    offset = 1.0 / (2 * n_per_side)
    one_side = np.linspace(offset, 1 - offset, n_per_side)
    xs = np.tile(one_side[None, :], (n_per_side, 1))
    ys = np.tile(one_side[:, None], (1, n_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(n_per_side: int, n_layers: int, scale_per_layer: int) -> list[np.ndarray]:
    """One normalised grid per crop layer (0..n_layers); layer ``i`` has ``n_per_side / scale**i`` per
    side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer**i))) for i in range(n_layers + 1)]


def generate_crop_boxes(
    im_size: tuple[int, int], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """Crop boxes ``(x0, y0, x1, y1)`` (exclusive, pixels) of every layer and the layer index of each.

    Layer 0 is the whole image; layer ``i >= 1`` splits it into ``2**i x 2**i`` overlapping crops whose
    overlap is ``overlap_ratio * min(H, W) * 2 / 2**i`` pixels. ``im_size`` is ``(H, W)``.
    """
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    boxes: list[list[int]] = [[0, 0, im_w, im_h]]
    layers: list[int] = [0]

    def crop_len(orig_len: int, n_crops: int, overlap: int) -> int:
        return math.ceil((overlap * (n_crops - 1) + orig_len) / n_crops)

    for layer in range(n_layers):
        n_side = 2 ** (layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / n_side))
        crop_w = crop_len(im_w, n_side, overlap)
        crop_h = crop_len(im_h, n_side, overlap)
        x0s = [int((crop_w - overlap) * i) for i in range(n_side)]
        y0s = [int((crop_h - overlap) * i) for i in range(n_side)]
        for x0, y0 in product(x0s, y0s):
            boxes.append([x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)])
            layers.append(layer + 1)
    return boxes, layers


def calculate_stability_score(masks: torch.Tensor, mask_threshold: float, offset: float) -> torch.Tensor:
    """IoU between the masks thresholded at ``threshold + offset`` and ``threshold - offset``.

    ``masks``: ``... x H x W`` float logits. Returns ``...`` float32 scores in ``[0, 1]`` (nan for a mask
    empty at both thresholds, as upstream).
    """
    high = (masks > (mask_threshold + offset)).sum(dim=(-1, -2), dtype=torch.int64)
    low = (masks > (mask_threshold - offset)).sum(dim=(-1, -2), dtype=torch.int64)
    return high.to(torch.float32) / low.to(torch.float32)


def mask_to_rle_pytorch(masks: torch.Tensor) -> list[UncompressedRle]:
    """Uncompressed column-major RLEs of ``B x H x W`` bool masks (one per mask)."""
    b, h, w = masks.shape
    flat = masks.permute(0, 2, 1).flatten(1)
    if flat.shape[1] == 0:
        return [{"size": [h, w], "counts": [0]} for _ in range(b)]
    change = torch.nonzero(flat[:, 1:] != flat[:, :-1])
    first = flat[:, 0].tolist()
    rows = change[:, 0].cpu().numpy()
    cols = change[:, 1].cpu().numpy() + 1
    splits = np.searchsorted(rows, np.arange(b + 1))
    out: list[UncompressedRle] = []
    for i in range(b):
        edges = np.concatenate([[0], cols[splits[i] : splits[i + 1]], [h * w]])
        runs = np.diff(edges).tolist()
        out.append({"size": [h, w], "counts": ([0] if first[i] else []) + runs})
    return out


def rle_to_mask(rle: UncompressedRle) -> np.ndarray:
    """Decode an uncompressed RLE into an ``H x W`` bool array."""
    h, w = rle["size"]
    flat = np.zeros(h * w, dtype=bool)
    pos = 0
    value = False
    for count in rle["counts"]:
        flat[pos : pos + count] = value
        pos += count
        value = not value
    return flat.reshape(w, h).transpose()


def area_from_rle(rle: UncompressedRle) -> int:
    """Number of foreground pixels of an uncompressed RLE."""
    return int(sum(rle["counts"][1::2]))


def coco_encode_rle(rle: UncompressedRle) -> dict[str, Any]:
    """Compressed COCO RLE (``counts`` a str) of an uncompressed RLE, via pycocotools."""
    from pycocotools import mask as mask_utils

    h, w = rle["size"]
    encoded = mask_utils.frPyObjects(rle, h, w)
    encoded["counts"] = encoded["counts"].decode("utf-8")
    return encoded


def check_output_mode(output_mode: str) -> None:
    """Raise ``ValueError`` unless ``output_mode`` is one of :data:`OutputMode`'s values."""
    if output_mode not in ("binary_mask", "uncompressed_rle", "coco_rle"):
        raise ValueError(f"unknown output_mode {output_mode!r}")


def encode_segmentation(rle: UncompressedRle, output_mode: str, mask: np.ndarray | None = None) -> Any:
    """A record's ``segmentation`` in ``output_mode``: COCO RLE, the uncompressed RLE, or the ``H x W`` bool
    mask (``mask`` when given, else decoded from ``rle``)."""
    if output_mode == "coco_rle":
        return coco_encode_rle(rle)
    if output_mode == "uncompressed_rle":
        return rle
    return rle_to_mask(rle) if mask is None else mask


def batched_mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """Inclusive boxes ``(x0, y0, x1, y1)`` of ``... x H x W`` bool masks; ``(0, 0, 0, 0)`` for an empty one.

    Returns an int64 tensor of shape ``... x 4``.
    """
    if masks.numel() == 0:
        return torch.zeros(*masks.shape[:-2], 4, device=masks.device, dtype=torch.int64)
    shape = masks.shape
    h, w = shape[-2:]
    flat = masks.reshape(-1, h, w)
    rows_any = flat.any(dim=-1)  # N x H
    cols_any = flat.any(dim=-2)  # N x W
    ys = torch.arange(h, device=masks.device)
    xs = torch.arange(w, device=masks.device)
    bottom = torch.where(rows_any, ys, -1).amax(dim=-1)
    top = torch.where(rows_any, ys, h).amin(dim=-1)
    right = torch.where(cols_any, xs, -1).amax(dim=-1)
    left = torch.where(cols_any, xs, w).amin(dim=-1)
    boxes = torch.stack([left, top, right, bottom], dim=-1)
    empty = (right < left) | (bottom < top)
    boxes = boxes * (~empty).unsqueeze(-1)
    return boxes.reshape(*shape[:-2], 4)


def box_xyxy_to_xywh(box: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """``(x0, y0, x1, y1)`` -> ``(x0, y0, x1 - x0, y1 - y0)`` on the last axis (a copy)."""
    if isinstance(box, torch.Tensor):
        out = box.clone()
        out[..., 2:] -= box[..., :2]
        return out
    arr = np.array(box, copy=True)
    arr[..., 2:] -= arr[..., :2]
    return arr


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas ``(x1 - x0) * (y1 - y0)`` of ``N x 4`` boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def uncrop_boxes_xyxy(boxes: torch.Tensor, crop_box: Sequence[int]) -> torch.Tensor:
    """Shift ``N x 4`` boxes from crop coordinates to image coordinates."""
    x0, y0 = int(crop_box[0]), int(crop_box[1])
    offset = torch.tensor([[x0, y0, x0, y0]], device=boxes.device)
    if boxes.ndim == 3:
        offset = offset.unsqueeze(1)
    return boxes + offset


def uncrop_points(points: torch.Tensor, crop_box: Sequence[int]) -> torch.Tensor:
    """Shift ``N x 2`` points ``(x, y)`` from crop coordinates to image coordinates."""
    x0, y0 = int(crop_box[0]), int(crop_box[1])
    offset = torch.tensor([[x0, y0]], device=points.device)
    if points.ndim == 3:
        offset = offset.unsqueeze(1)
    return points + offset


def uncrop_masks(masks: torch.Tensor, crop_box: Sequence[int], orig_h: int, orig_w: int) -> torch.Tensor:
    """Zero-pad ``N x h x w`` crop masks to ``N x orig_h x orig_w`` at the crop's place."""
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    if x0 == 0 and y0 == 0 and x1 == orig_w and y1 == orig_h:
        return masks
    pad = (x0, orig_w - x1, y0, orig_h - y1)
    return torch.nn.functional.pad(masks, pad, value=0)


def is_box_near_crop_edge(
    boxes: torch.Tensor, crop_box: Sequence[int], orig_box: Sequence[int], atol: float = 20.0
) -> torch.Tensor:
    """Whether each ``N x 4`` box (crop coordinates) lies within ``atol`` px of a crop edge that is not also an image
    edge. Returns ``N`` bool."""
    crop_t = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    orig_t = torch.as_tensor(orig_box, dtype=torch.float, device=boxes.device)
    shifted = uncrop_boxes_xyxy(boxes, crop_box).float()
    near_crop = torch.isclose(shifted, crop_t[None, :], atol=atol, rtol=0)
    near_image = torch.isclose(shifted, orig_t[None, :], atol=atol, rtol=0)
    return torch.any(near_crop & ~near_image, dim=1)


def remove_small_regions(mask: np.ndarray, area_thresh: float, mode: str) -> tuple[np.ndarray, bool]:
    """Remove holes (``mode="holes"``) or islands (``"islands"``) smaller than ``area_thresh`` pixels.

    ``mask``: ``H x W`` bool. Returns the cleaned mask and whether it changed. When every island is small,
    the largest one is kept.
    """
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    holes = mode == "holes"
    working = (holes ^ mask.astype(bool)).astype(np.uint8)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(working, connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    small = [i + 1 for i, size in enumerate(sizes) if size < area_thresh]
    if not small:
        return mask, False
    fill = [0, *small]
    if not holes:
        fill = [i for i in range(n_labels) if i not in fill]
        if not fill:
            fill = [int(np.argmax(sizes)) + 1]
    return np.isin(labels, fill), True
