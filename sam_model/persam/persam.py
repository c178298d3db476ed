"""PerSAM: one-shot personalisation of SAM, training-free (upstream ZrrSkywalker/Personalize-SAM,
``persam.py``).

From one reference image and its object mask, find the same object in other images without re-training SAM:

1. :func:`reference_cells`: the ``64 x 64`` feature cells covered by the reference mask;
2. :func:`target_embedding`: the mean reference feature over those cells (``1 x 1 x D``);
3. :func:`similarity_map`: cosine similarity of every target feature with it, mapped onto the target image;
4. :func:`location_prior`: the most similar pixel (positive point) and the least similar (negative point);
5. :func:`attention_guidance`: the similarity as an attention bias (target-guided attention);
6. :func:`segment_target`: the decoder with target-guided attention and target-semantic prompting
   (options of our own :class:`~sam_model.sam.mask_decoder.MaskDecoder`, off by default), then two cascaded
   refinements with plain SAM.

PerSAM-F (learned mask-scale weights) is in :mod:`sam_model.persam.persam_f`; the search for several instances per
image in :mod:`sam_model.persam.multi`. Every function here works on a
:class:`~sam_model.sam.predictor.SamPredictor` whose image is set (``set_image`` or ``set_embedding``); nothing
re-encodes an image. Cost per target image: three decoder passes plus a few small matrix products (see
``benchmarks/persam.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from sam_model.errors import NoImageError, PromptError
from sam_model.sam.model import PIXEL_MEAN, PIXEL_STD
from sam_model.sam.predictor import SamPredictor

_NO_CELLS = "the reference mask covers no feature cell (too small: under ~1/64 of the image side)"


@dataclass(frozen=True)
class PersamStep:
    """One decoder pass: low-res logits ``C x 256 x 256`` float32, predicted IoU ``C`` and the index of the
    best mask (``0`` for single-mask output)."""

    logits: Tensor
    scores: Tensor
    best: int


@dataclass(frozen=True)
class PersamResult:
    """The outcome of PerSAM on one target object.

    Attributes:
        mask: ``H x W`` bool, the final mask on the target image (original size).
        score: the final mask's predicted IoU.
        points: ``N x 2`` int64 prompt points ``(x, y)`` in target-image pixels; labels: ``N`` (1 / 0).
        similarity: the similarity at the positive point (cosine, in ``[-1, 1]``).
        steps: the decoder passes (first step, refinement 1, refinement 2).
        box: ``(x0, y0, x1, y1)`` inclusive pixel box given to refinement 2, or ``None`` if the refinement-1
            mask was empty (refinement 2 then runs without a box).
    """

    mask: np.ndarray
    score: float
    points: np.ndarray
    labels: np.ndarray
    similarity: float
    steps: tuple[PersamStep, ...]
    box: tuple[int, int, int, int] | None


def _require_image(predictor: SamPredictor) -> tuple[Tensor, tuple[int, int], tuple[int, int]]:
    if predictor.features is None or predictor.original_size is None or predictor.input_size is None:
        raise NoImageError("PerSAM needs an image: call set_image (or set_embedding) on the predictor first")
    return predictor.features, predictor.original_size, predictor.input_size


def reference_cells(mask: np.ndarray, input_size: tuple[int, int], *, image_size: int, grid: int) -> Tensor:
    """The feature cells that belong to the reference object, like upstream.

    Upstream resizes the ``0 / 255`` mask like the image (longest side ``image_size``, PIL bilinear),
    normalises it with the pixel mean / std, zero-pads it to ``image_size`` square, resizes it bilinearly to
    ``grid x grid`` and keeps the cells whose first channel is ``> 0``.

    Args:
        mask: ``H x W`` bool (or 0 / non-zero) reference mask on the original image.
        input_size: ``(h, w)`` of the resized image (``max(h, w) == image_size``).
        image_size: the encoder's square input side (1024). grid: side of the feature grid (64).
    Returns:
        ``grid x grid`` bool tensor (CPU).
    """
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise PromptError(f"reference mask must be a non-empty H x W array, got shape {arr.shape}")
    mask_u8 = np.where(arr > 0, 255, 0).astype(np.uint8)
    h, w = input_size
    if (h, w) != mask_u8.shape:
        mask_u8 = np.array(Image.fromarray(mask_u8).resize((w, h), Image.Resampling.BILINEAR))
    normalised = (torch.from_numpy(mask_u8).float() - PIXEL_MEAN[0]) / PIXEL_STD[0]
    padded = F.pad(normalised, (0, image_size - w, 0, image_size - h))
    small = F.interpolate(padded[None, None], size=(grid, grid), mode="bilinear", align_corners=False)
    return small[0, 0] > 0


def target_embedding(features: Tensor, cells: Tensor) -> Tensor:
    """Mean of ``features`` (``1 x D x h x w``) over ``cells`` (``h x w`` bool): ``1 x 1 x D`` (not
    normalised).

    Raises ``PromptError`` when no cell is selected (a reference mask too small to cover any feature cell).
    """
    if not bool(cells.any()):
        raise PromptError(_NO_CELLS)
    feat = features[0].permute(1, 2, 0)  # h x w x D
    return feat[cells.to(feat.device)].mean(0).reshape(1, 1, -1)


def target_feature_blend(features: Tensor, cells: Tensor) -> Tensor:
    """PerSAM-F's target feature: ``(max + mean) / 2`` of the reference features over ``cells``: ``1 x 1 x
    D``."""
    if not bool(cells.any()):
        raise PromptError(_NO_CELLS)
    feat = features[0].permute(1, 2, 0)[cells.to(features.device)]  # K x D
    return (feat.max(0).values / 2 + feat.mean(0) / 2).reshape(1, 1, -1)


def similarity_map(predictor: SamPredictor, target: Tensor) -> Tensor:
    """Cosine similarity of every feature of the predictor's image with ``target``, as an image.

    Upstream: ``h x w`` cosine similarities, upscaled x4 bilinearly, then mapped like a mask (bilinear to the
    padded input, padding removed, bilinear to the original size). Both steps are linear and separable, so
    they run as two small matrix products.

    Args:
        target: ``1 x 1 x D`` (or ``D``) target embedding, any norm.
    Returns:
        ``H x W`` float32 similarity on the original image (values in ``[-1, 1]``).
    """
    features, _, _ = _require_image(predictor)
    t = target.reshape(-1).to(features)
    t = t / t.norm()
    feat = features[0]
    sim = torch.einsum("c,chw->hw", t, feat) / feat.norm(dim=0)
    sim4 = F.interpolate(sim[None, None], scale_factor=4, mode="bilinear", align_corners=False)
    return predictor.upscale_masks(sim4)[0, 0]


def location_prior(sim: Tensor, *, negative_from: Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positive point at the (first, row-major) maximum of ``sim``, negative point at the minimum.

    Args:
        sim: ``H x W`` similarity. negative_from: ``H x W`` map for the negative point (default ``sim``).
    Returns:
        points ``2 x 2`` int64 ``(x, y)`` pixels and labels ``[1, 0]``.
    """
    neg_map = sim if negative_from is None else negative_from
    width = sim.shape[1]
    pos = int(torch.argmax(sim))
    neg = int(torch.argmin(neg_map))
    points = np.array([[pos % width, pos // width], [neg % width, neg // width]], dtype=np.int64)
    return points, np.array([1, 0], dtype=np.int64)


def attention_guidance(sim: Tensor, grid: tuple[int, int]) -> Tensor:
    """Target-guided attention bias: ``sim`` standardised (unbiased std), bilinear to ``grid``, sigmoid.

    Returns ``1 x 1 x 1 x (gh * gw)`` float32, added to the token-to-image attention weights by the decoder.
    """
    std = sim.std()
    z = (sim - sim.mean()) / (std if float(std) > 0 else 1.0)
    small = F.interpolate(z[None, None], size=grid, mode="bilinear", align_corners=False)
    return small.sigmoid().reshape(1, 1, 1, -1)


@torch.inference_mode()
def decode(
    predictor: SamPredictor,
    points: np.ndarray,
    labels: np.ndarray,
    *,
    box: np.ndarray | None = None,
    mask_input: Tensor | None = None,
    multimask_output: bool,
    attn_sim: Tensor | None = None,
    target_embedding: Tensor | None = None,
) -> PersamStep:
    """One prompt-encoder + decoder pass with PerSAM's decoder options.

    Args:
        points: ``N x 2`` ``(x, y)`` in original-image pixels; labels: ``N``.
        box: ``4`` xyxy in original-image pixels, or ``None``.
        mask_input: ``1 x 256 x 256`` low-res logits, or ``None``.
        attn_sim: ``1 x 1 x 1 x hw`` target-guided attention, or ``None``.
        target_embedding: ``1 x 1 x D`` target-semantic prompt, or ``None``.
    Returns:
        the step (logits ``C x 256 x 256``, scores ``C``, best index by score).
    """
    features, original_size, _ = _require_image(predictor)
    model = predictor.model
    device = features.device
    coords = predictor.transform.apply_coords(np.asarray(points, dtype=np.float64), original_size)
    coords_t = torch.as_tensor(coords, dtype=torch.float32, device=device)[None]
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device)[None]
    box_t = None
    if box is not None:
        box_np = np.asarray(box, dtype=np.float64).reshape(1, 4)
        box_arr = predictor.transform.apply_boxes(box_np, original_size)
        box_t = torch.as_tensor(box_arr, dtype=torch.float32, device=device)
    mask_t = None if mask_input is None else mask_input.reshape(1, 1, *mask_input.shape[-2:]).to(features)
    if attn_sim is None and target_embedding is None:  # plain SAM: the predictor's own (cached) path
        logits, scores = predictor.decode_low_res(
            (coords_t, labels_t), box_t, mask_t, multimask_output=multimask_output
        )
        return PersamStep(logits[0].float(), scores[0].float(), int(torch.argmax(scores[0])))
    sparse, dense = model.prompt_encoder((coords_t, labels_t), box_t, mask_t)
    logits, scores = model.mask_decoder(
        features,
        model.prompt_encoder.get_dense_pe(),
        sparse,
        dense,
        multimask_output,
        attn_sim=None if attn_sim is None else attn_sim.to(features),
        target_embedding=None if target_embedding is None else target_embedding.to(features),
    )
    return PersamStep(logits[0].float(), scores[0].float(), int(torch.argmax(scores[0])))


def mask_of(predictor: SamPredictor, step: PersamStep, index: int | None = None) -> np.ndarray:
    """The ``H x W`` bool mask of one output of a step (default: its best) on the original image."""
    i = step.best if index is None else index
    logits = predictor.upscale_masks(step.logits[i][None, None])[0, 0]
    return (logits > predictor.model.mask_threshold).cpu().numpy()


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Inclusive ``(x0, y0, x1, y1)`` pixel box of a bool mask, ``None`` when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def cascaded_refinement(
    predictor: SamPredictor,
    points: np.ndarray,
    labels: np.ndarray,
    first_logits: Tensor,
    *,
    first_box: tuple[int, int, int, int] | None = None,
) -> tuple[PersamStep, PersamStep, tuple[int, int, int, int] | None, np.ndarray]:
    """Upstream's two post-refinements (plain SAM, multimask output).

    Refinement 1: the same points, ``mask_input`` = ``first_logits`` (``256 x 256``) and ``first_box`` if
    given (PerSAM gives none, PerSAM-F the box of its first mask). Refinement 2: the points, the box of
    refinement 1's best mask and its logits. Returns both steps, refinement 2's box and the final mask (``H x
    W`` bool, the best of refinement 2 by score).
    """
    box1 = None if first_box is None else np.array(first_box, dtype=np.float64)
    step2 = decode(predictor, points, labels, box=box1, mask_input=first_logits, multimask_output=True)
    box = mask_box(mask_of(predictor, step2))
    box_arr = None if box is None else np.array(box, dtype=np.float64)
    step3 = decode(
        predictor, points, labels, box=box_arr, mask_input=step2.logits[step2.best], multimask_output=True
    )
    return step2, step3, box, mask_of(predictor, step3)


def segment_target(
    predictor: SamPredictor,
    target: Tensor,
    *,
    sim: Tensor | None = None,
    negative_from: Tensor | None = None,
) -> PersamResult:
    """Training-free PerSAM on the predictor's current image.

    Args:
        target: ``1 x 1 x D`` target embedding (:func:`target_embedding` of the reference).
        sim: the ``H x W`` similarity to take the positive point and the attention from (default:
            :func:`similarity_map`); the multi-instance search passes a map with found objects suppressed.
        negative_from: map for the negative point (default ``sim``).
    Returns:
        the :class:`PersamResult` (three decoder passes).
    """
    if sim is None:
        sim = similarity_map(predictor, target)
    points, labels = location_prior(sim, negative_from=negative_from)
    features, _, _ = _require_image(predictor)
    attn_sim = attention_guidance(sim, (int(features.shape[-2]), int(features.shape[-1])))
    step1 = decode(
        predictor, points, labels, multimask_output=False, attn_sim=attn_sim, target_embedding=target
    )
    step2, step3, box, final = cascaded_refinement(predictor, points, labels, step1.logits[0])
    similarity = float(sim[int(points[0, 1]), int(points[0, 0])])
    return PersamResult(
        mask=final,
        score=float(step3.scores[step3.best]),
        points=points,
        labels=labels,
        similarity=similarity,
        steps=(step1, step2, step3),
        box=box,
    )


@dataclass(frozen=True)
class PersamReference:
    """What PerSAM keeps from the reference image (computed once, reused for every target image).

    Attributes:
        cells: ``h x w`` bool feature cells of the object. embedding: ``1 x 1 x D`` mean feature (the
        target-semantic prompt and PerSAM's similarity target). blend: ``1 x 1 x D`` ``(max + mean) / 2``
        feature (PerSAM-F's similarity target). mask_weights: ``3`` PerSAM-F weights, or ``None``.
    """

    cells: Tensor
    embedding: Tensor
    blend: Tensor
    mask_weights: Tensor | None = None


def learn_reference(predictor: SamPredictor, mask: np.ndarray) -> PersamReference:
    """The :class:`PersamReference` of the predictor's current image (the reference) and its mask
    (``H x W``)."""
    features, original_size, input_size = _require_image(predictor)
    if tuple(np.asarray(mask).shape) != tuple(original_size):
        raise PromptError(f"reference mask shape {np.asarray(mask).shape} != image size {original_size}")
    cells = reference_cells(
        mask, input_size, image_size=predictor.model.image_size, grid=int(features.shape[-1])
    )
    return PersamReference(cells, target_embedding(features, cells), target_feature_blend(features, cells))
