"""Several instances of the personalised object per image: find one, suppress it, search again.

After each object is found, the similarity map is lowered to its minimum under the object's (dilated) mask,
so the next positive point (and PerSAM's target-guided attention) goes elsewhere; the image is never
re-encoded.
The search stops at the first of:

* ``max_instances`` objects found (:attr:`StopReason.MAX_INSTANCES`);
* the best remaining similarity below ``min_similarity`` (:attr:`StopReason.MIN_SIMILARITY`), checked before
  every search, so an image without the object gives no proposal;
* the new mask overlapping what was found (IoU with one of them, or the fraction of the new mask covered by
  their union, above ``max_overlap``: :attr:`StopReason.OVERLAP`; that mask is not kept);
* an empty mask (:attr:`StopReason.EMPTY_MASK`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from sam_model.errors import PromptError
from sam_model.persam.persam import PersamReference, PersamResult, segment_target, similarity_map
from sam_model.persam.persam_f import segment_target_f
from sam_model.sam.predictor import SamPredictor


class StopReason(enum.StrEnum):
    """Why the search for more instances stopped."""

    MAX_INSTANCES = "max_instances"
    MIN_SIMILARITY = "min_similarity"
    OVERLAP = "overlap"
    EMPTY_MASK = "empty_mask"


@dataclass(frozen=True)
class SearchOptions:
    """Multi-instance search settings.

    Attributes:
        max_instances: at most this many objects per image (>= 1).
        min_similarity: cosine-similarity floor (``[-1, 1]``) of the best remaining pixel. Uncalibrated
            heuristic default: tune it on real checkpoints (similarities of random-weight models are
            meaningless).
        max_overlap: a new mask whose IoU with a found one, or whose fraction inside their union, exceeds this
            ends the search (``[0, 1]``).
        suppress_dilation: pixels by which a found mask is dilated before it is suppressed in the similarity.
    """

    max_instances: int = 5
    min_similarity: float = 0.5
    max_overlap: float = 0.5
    suppress_dilation: int = 8

    def __post_init__(self) -> None:
        if self.max_instances < 1:
            raise PromptError(f"max_instances must be >= 1, got {self.max_instances}")
        if not 0.0 <= self.max_overlap <= 1.0:
            raise PromptError(f"max_overlap must be in [0, 1], got {self.max_overlap}")
        if self.suppress_dilation < 0:
            raise PromptError(f"suppress_dilation must be >= 0, got {self.suppress_dilation}")


@dataclass(frozen=True)
class SearchResult:
    """Objects found on one image (in search order), why the search stopped, and the overlapping mask that
    stopped it (``None`` unless ``stop_reason`` is ``OVERLAP``)."""

    instances: tuple[PersamResult, ...]
    stop_reason: StopReason
    rejected: PersamResult | None = None


Segment = Callable[[Tensor, Tensor], PersamResult]
"""``(sim, original_sim) -> result``: segments one object given the current (suppressed) ``H x W`` similarity
and the original one (for the negative point)."""


def overlap(mask: np.ndarray, found: list[np.ndarray], union: np.ndarray | None) -> float:
    """Largest of the IoU of ``mask`` with each of ``found`` and the fraction of ``mask`` inside ``union``."""
    area = int(mask.sum())
    if area == 0 or not found or union is None:
        return 0.0
    best = float(np.logical_and(mask, union).sum()) / area
    for other in found:
        inter = int(np.logical_and(mask, other).sum())
        if inter:
            best = max(best, inter / float(area + int(other.sum()) - inter))
    return best


def search_instances(sim: Tensor, segment: Segment, options: SearchOptions) -> SearchResult:
    """Find up to ``options.max_instances`` objects, suppressing each found one in the similarity map.

    Args:
        sim: ``H x W`` similarity of the image with the target (not modified).
        segment: segments one object from the current similarity (e.g. :func:`segment_target`).
        options: the stop conditions.
    """
    work = sim.clone()
    floor = float(sim.min())
    kernel = None
    if options.suppress_dilation > 0:
        side = 2 * options.suppress_dilation + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    found: list[PersamResult] = []
    masks: list[np.ndarray] = []
    union: np.ndarray | None = None
    while True:
        if len(found) >= options.max_instances:
            return SearchResult(tuple(found), StopReason.MAX_INSTANCES)
        if float(work.max()) < options.min_similarity:
            return SearchResult(tuple(found), StopReason.MIN_SIMILARITY)
        result = segment(work, sim)
        mask = np.asarray(result.mask, dtype=bool)
        if not mask.any():
            return SearchResult(tuple(found), StopReason.EMPTY_MASK)
        if overlap(mask, masks, union) > options.max_overlap:
            return SearchResult(tuple(found), StopReason.OVERLAP, rejected=result)
        found.append(result)
        masks.append(mask)
        union = mask.copy() if union is None else np.logical_or(union, mask)
        # A copy: ``mask`` may be the result's own array, which must not get the point below.
        grown = mask.copy() if kernel is None else cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        # Also suppress the positive point itself, so the search always moves on.
        grown[int(result.points[0, 1]), int(result.points[0, 0])] = True
        work[torch.from_numpy(grown).to(work.device)] = floor


def find_instances(
    predictor: SamPredictor,
    reference: PersamReference,
    options: SearchOptions | None = None,
    *,
    fine_tune: bool = False,
) -> SearchResult:
    """PerSAM (or PerSAM-F with ``fine_tune``) multi-instance search on the predictor's current image.

    ``fine_tune`` needs ``reference.mask_weights`` (:func:`sam_model.persam.persam_f.learn_mask_weights`). Each
    object costs three decoder passes.
    """
    opts = options or SearchOptions()
    if fine_tune:
        if reference.mask_weights is None:
            raise PromptError("PerSAM-F needs learned mask weights: call learn_mask_weights on the reference")
        sim = similarity_map(predictor, reference.blend)
        return search_instances(sim, lambda s, _o: segment_target_f(predictor, reference, sim=s), opts)
    sim = similarity_map(predictor, reference.embedding)

    def one(current: Tensor, original: Tensor) -> PersamResult:
        return segment_target(predictor, reference.embedding, sim=current, negative_from=original)

    return search_instances(sim, one, opts)
