"""Object proposals without a checkpoint, and one entry point for both engines.

The classical engine has no batched decoder, so proposals come from a graph-based segmentation instead
(Felzenszwalb and Huttenlocher's greedy merge: regions grow along edges by increasing colour difference while
the edge is no stronger than each side's internal difference plus ``k / size``), run at a bounded resolution
(longest side ``work_size``) for several scales ``k``. Every region is a candidate, scored like SAM's records:

* ``predicted_iou``: boundary contrast, ``1 - exp(-d / 12)`` with ``d`` the CIE Lab distance between the
  region's mean colour and that of a ring just outside it (high for an object that stands out from its
surroundings); * ``stability_score``: agreement across scales, the best mask IoU with a region of another
  scale (a region found at every scale is stable, as a SAM mask that survives a threshold change).

Boundaries are re-decided at full resolution by colour (pixels near the upsampled boundary go to the closer of
the inside and outside mean colours). Then the filters that apply: score thresholds, minimum area (plus
removal of small holes and islands), duplicate
removal (mask IoU), box NMS. Records have the same keys as :mod:`sam_model.automatic.generator`'s.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch

from sam_model.automatic.amg import (
    box_xyxy_to_xywh,
    check_output_mode,
    encode_segmentation,
    mask_to_rle_pytorch,
    remove_small_regions,
)
from sam_model.automatic.nms import batched_nms
from sam_model.inputs import check_image

_SAM_ONLY = frozenset(
    {
        "points_per_side",
        "points_per_batch",
        "stability_score_offset",
        "crop_n_layers",
        "crop_nms_thresh",
        "crop_overlap_ratio",
        "crop_n_points_downscale_factor",
        "point_grids",
    }
)
"""SAM generator parameters without a meaning for the classical proposals (accepted and ignored)."""

_REFINE_MAX_PIXELS = 8_000_000
"""Above this many image pixels, mask boundaries are not refined at full resolution (bilinear upsampling
only)."""


def _felzenszwalb(edges: np.ndarray, weights: np.ndarray, n: int, k: float, min_size: int) -> np.ndarray:
    """Region label (``n`` int, a root id per region) of the greedy graph merge; ``edges`` sorted by
    weight."""
    parent = list(range(n))
    size = [1] * n
    internal = [0.0] * n

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for (a, b), w in zip(edges.tolist(), weights.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if w <= internal[ra] + k / size[ra] and w <= internal[rb] + k / size[rb]:
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            internal[ra] = w
    # Second pass, by increasing edge weight: absorb regions that are small or thin (mostly boundary, such as
    # the strips of blended pixels along a sharp edge) into their most similar neighbour.
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    cut = roots[edges[:, 0]] != roots[edges[:, 1]]
    boundary = np.bincount(roots[edges[cut].ravel()], minlength=n)
    sizes = np.bincount(roots, minlength=n)
    weak = ((sizes < min_size) | (boundary > 0.6 * sizes)).tolist()
    for a, b in edges.tolist():
        ra, rb = find(a), find(b)
        if ra != rb and (weak[ra] or weak[rb]):
            if size[ra] < size[rb]:
                ra, rb = rb, ra
            parent[rb] = ra
            size[ra] += size[rb]
            weak[ra] = size[ra] < min_size or (weak[ra] and weak[rb])
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def _graph(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-neighbour edges (``E x 2`` pixel indices) of an ``h x w x 3`` image, sorted by Lab distance ``E``."""
    h, w = lab.shape[:2]
    idx = np.arange(h * w).reshape(h, w)
    pairs = [
        (idx[:, :-1].ravel(), idx[:, 1:].ravel(), lab[:, :-1] - lab[:, 1:]),
        (idx[:-1, :].ravel(), idx[1:, :].ravel(), lab[:-1, :] - lab[1:, :]),
    ]
    edges = np.concatenate([np.stack([a, b], axis=1) for a, b, _ in pairs])
    weights = np.concatenate([np.sqrt((d**2).sum(-1)).ravel() for _, _, d in pairs])
    order = np.argsort(weights, kind="stable")
    return edges[order], weights[order]


class ClassicProposals:
    """Region proposals from multi-scale graph segmentation (see the module docstring).

    Args:
        work_size: longest side of the working image, pixels (bounds the time: about 1 s per scale at 256).
        scales: the ``k`` values, in units of Lab distance times pixels of the working image.
        pred_iou_thresh: minimum boundary-contrast score.
        stability_score_thresh: minimum cross-scale agreement.
        box_nms_thresh: box IoU above which the lower-scored of two proposals is dropped.
        min_mask_region_area: minimum area in image pixels (default: 0.2 % of the image); holes and islands
            smaller than it are removed.
        max_area_fraction: proposals covering more of the image than this are dropped (the background).
        output_mode: ``binary_mask``, ``uncompressed_rle`` or ``coco_rle``.
    """

    def __init__(
        self,
        *,
        work_size: int = 256,
        scales: tuple[float, ...] = (150.0, 400.0, 1000.0),
        pred_iou_thresh: float = 0.3,
        stability_score_thresh: float = 0.0,
        box_nms_thresh: float = 0.7,
        min_mask_region_area: int | None = None,
        max_area_fraction: float = 0.9,
        output_mode: str = "binary_mask",
    ) -> None:
        check_output_mode(output_mode)
        if work_size < 16 or not scales:
            raise ValueError("work_size must be >= 16 and scales non-empty")
        self.work_size = work_size
        self.scales = scales
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.box_nms_thresh = box_nms_thresh
        self.min_mask_region_area = min_mask_region_area
        self.max_area_fraction = max_area_fraction
        self.output_mode = output_mode

    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Proposals for ``image`` (``H x W x 3`` uint8 RGB), best score first; records as the SAM
        generator's."""
        check_image(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.work_size / max(h, w))
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else image
        small = cv2.GaussianBlur(small, (0, 0), 0.8)
        lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        edges, weights = _graph(lab)
        min_area = self.min_mask_region_area
        if min_area is None:
            min_area = max(1, int(0.002 * h * w))
        min_small = max(1, math.ceil(min_area * scale * scale))
        regions: list[np.ndarray] = []  # sh x sw bool masks
        scale_of: list[int] = []
        for s_idx, k in enumerate(self.scales):
            labels = _felzenszwalb(edges, weights, sh * sw, k, min_small).reshape(sh, sw)
            for root in np.unique(labels):
                mask = labels == root
                area = int(mask.sum())
                if area >= min_small and area <= self.max_area_fraction * sh * sw:
                    regions.append(mask)
                    scale_of.append(s_idx)
        if not regions:
            return []
        stack = torch.from_numpy(np.stack(regions)).reshape(len(regions), -1).float()
        inter = stack @ stack.T
        areas = stack.sum(dim=1)
        ious = (inter / (areas[:, None] + areas[None, :] - inter)).numpy()
        scales = np.array(scale_of)
        other = scales[:, None] != scales[None, :]
        stability = np.where(other, ious, 0.0).max(axis=1) if len(self.scales) > 1 else np.ones(len(regions))
        contrast = np.array([self._contrast(lab, m) for m in regions])
        keep = (contrast > self.pred_iou_thresh) & (stability >= self.stability_score_thresh)
        # Duplicates across scales (mask IoU > 0.9): keep the best-scored one.
        order = np.argsort(-(contrast + 1e-3 * stability), kind="stable")
        taken: list[int] = []
        for i in order:
            if keep[i] and all(ious[i, j] <= 0.9 for j in taken):
                taken.append(int(i))
        band = math.ceil(2.0 / scale) + 1
        return self._records(image, regions, taken, contrast, stability, band, min_area)

    @staticmethod
    def _contrast(lab: np.ndarray, mask: np.ndarray) -> float:
        """``1 - exp(-d / 12)``, ``d`` the Lab distance of the mean colours of ``mask`` and a ring around
        it."""
        u8 = mask.astype(np.uint8)
        ring = cv2.dilate(u8, np.ones((5, 5), np.uint8)).astype(bool) & ~mask
        if not ring.any():
            return 0.0
        d = float(np.linalg.norm(lab[mask].mean(axis=0) - lab[ring].mean(axis=0)))
        return 1.0 - math.exp(-d / 12.0)

    @staticmethod
    def _refine(mask: np.ndarray, lab: np.ndarray, band: int) -> np.ndarray:
        """Re-decide the pixels within ``band`` px of the boundary of an upsampled ``H x W`` mask by colour:
        each goes to the side (mean Lab colour inside / just outside the band) it is closer to."""
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        u8 = mask.astype(np.uint8)
        inner = cv2.erode(u8, kernel).astype(bool)
        outer = cv2.dilate(u8, kernel).astype(bool)
        ring = cv2.dilate(outer.astype(np.uint8), kernel).astype(bool) & ~outer
        if not inner.any() or not ring.any():
            return mask
        uncertain = outer & ~inner
        colours = lab[uncertain]
        d_in = np.linalg.norm(colours - lab[inner].mean(axis=0), axis=1)
        d_out = np.linalg.norm(colours - lab[ring].mean(axis=0), axis=1)
        out = inner.copy()
        out[uncertain] = d_in < d_out
        return out

    def _records(
        self,
        image: np.ndarray,
        regions: list[np.ndarray],
        taken: list[int],
        contrast: np.ndarray,
        stability: np.ndarray,
        band: int,
        min_area: int,
    ) -> list[dict[str, Any]]:
        h, w = image.shape[:2]
        refine = h * w <= _REFINE_MAX_PIXELS
        lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB) if refine else None
        masks: list[np.ndarray | None] = []
        boxes: list[list[int]] = []
        for i in taken:
            full = cv2.resize(regions[i].astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
            if lab is not None:
                full = self._refine(full, lab, band)
            full, _ = remove_small_regions(full, min_area, "holes")
            full, _ = remove_small_regions(full, min_area, "islands")
            ys, xs = np.nonzero(full)
            if len(xs) < min_area:
                masks.append(None)
                boxes.append([0, 0, 0, 0])
                continue
            masks.append(full)
            boxes.append([int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())])
        valid = [j for j, m in enumerate(masks) if m is not None]
        if not valid:
            return []
        scores = torch.tensor([float(contrast[taken[j]]) for j in valid])
        box_t = torch.tensor([boxes[j] for j in valid], dtype=torch.float32)
        records = []
        for v in batched_nms(box_t, scores, None, self.box_nms_thresh).tolist():
            j = valid[v]
            mask = masks[j]
            rle = mask_to_rle_pytorch(torch.from_numpy(mask)[None])[0]
            segmentation = encode_segmentation(rle, self.output_mode, mask)
            ys, xs = np.nonzero(mask)
            records.append(
                {
                    "segmentation": segmentation,
                    "area": int(mask.sum()),
                    "bbox": box_xyxy_to_xywh(np.array(boxes[j])).tolist(),
                    "predicted_iou": float(contrast[taken[j]]),
                    "point_coords": [[float(xs.mean()), float(ys.mean())]],
                    "stability_score": float(stability[taken[j]]),
                    "crop_box": [0, 0, w, h],
                }
            )
        return records


def generate_proposals(segmenter: Any, image: np.ndarray, **params: Any) -> list[dict[str, Any]]:
    """Proposals for ``image`` with the engine's best method: the SAM generator when ``segmenter`` has
    ``predict_torch`` (a ``SamPredictor``), else :class:`ClassicProposals`.

    ``params`` are :class:`sam_model.automatic.generator.AutomaticMaskGenerator`'s keyword arguments; for the classical
    method those without a meaning there (grid, crops, offsets) are ignored and ``None`` values mean the
    method's default. Raises ``TypeError`` for an unknown parameter.
    """
    params = {key: value for key, value in params.items() if value is not None}
    if callable(getattr(segmenter, "predict_torch", None)):
        from sam_model.automatic.generator import AutomaticMaskGenerator

        return AutomaticMaskGenerator(segmenter, **params).generate(image)
    allowed = {
        "pred_iou_thresh",
        "stability_score_thresh",
        "box_nms_thresh",
        "min_mask_region_area",
        "output_mode",
        "work_size",
        "scales",
        "max_area_fraction",
    }
    unknown = set(params) - allowed - _SAM_ONLY - {"progress", "cancel"}
    if unknown:
        raise TypeError(f"unknown proposal parameters: {sorted(unknown)}")
    classic = {key: value for key, value in params.items() if key in allowed}
    return ClassicProposals(**classic).generate(image)
