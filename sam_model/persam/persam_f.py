"""PerSAM-F: PerSAM with learned mask-scale weights (upstream Personalize-SAM, ``persam_f.py``).

SAM's multimask output gives three masks at different scales (part, object, whole...). PerSAM-F learns, on the
reference image only, the weights ``(1 - w1 - w2, w1, w2)`` of their logits so that the weighted sum matches
the reference mask (dice + sigmoid focal loss, AdamW, cosine schedule; upstream: 1,000 steps at lr 1e-3). SAM
stays frozen and the reference prompt is fixed, so the three logits are computed once and only the two
weights are trained, on a downsampled grid: a fraction of a second on a CPU.

On a target image: the positive point of the location prior, the multimask decoder, the weighted sum of the
three logits, then two cascaded refinements (the first with the box of the weighted mask).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from torch import Tensor

from sam_model.errors import PromptError
from sam_model.persam.persam import (
    PersamReference,
    PersamResult,
    cascaded_refinement,
    decode,
    location_prior,
    mask_box,
    similarity_map,
)
from sam_model.sam.predictor import SamPredictor
from sam_model.transforms import get_preprocess_shape

DEFAULT_STEPS = 1000
DEFAULT_LR = 1e-3
DEFAULT_FIT_SIDE = 128
"""Longest side (pixels) of the grid the weights are fitted on (upstream: the full image)."""


@dataclass(frozen=True)
class FitReport:
    """How the weights were fitted: ``weights`` ``3`` float32 (sum 1), final ``loss``, ``seconds`` of the
    optimisation loop (wall clock), ``steps`` and the fit grid ``size`` ``(h, w)``."""

    weights: Tensor
    loss: float
    seconds: float
    steps: int
    size: tuple[int, int]


def dice_focal_loss(logits: Tensor, target: Tensor, *, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Upstream's dice loss (smoothing 1) plus sigmoid focal loss (mean over pixels), for one mask.

    Args:
        logits: ``N`` float logits. target: ``N`` float in ``{0, 1}``.
    Returns:
        scalar loss.
    """
    prob = logits.sigmoid()
    dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = prob * target + (1 - prob) * (1 - target)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    return dice + (alpha_t * ce * (1 - p_t) ** gamma).mean()


def loss_and_grad(
    weights: np.ndarray, base: np.ndarray, diffs: np.ndarray, target: np.ndarray, *, alpha: float = 0.25
) -> tuple[float, np.ndarray]:
    """:func:`dice_focal_loss` (``gamma = 2``) of ``base + weights @ diffs`` and its gradient, by hand.

    Args:
        weights: ``2`` (w1, w2). base: ``N`` logits of mask 0. diffs: ``2 x N`` (mask 1 - mask 0, mask 2 -
            mask 0). target: ``N`` float32 in ``{0, 1}``.
    Returns:
        the loss and ``d loss / d weights`` (``2``). Written out so a step costs ~15 array operations and
        no autograd graph (1,000 steps in well under a second).
    """
    z = base + weights @ diffs
    p = 1.0 / (1.0 + np.exp(-z))
    dp = p * (1.0 - p)
    s_pt, s_p, s_t = float(p @ target), float(p.sum()), float(target.sum())
    den = s_p + s_t + 1.0
    dice = 1.0 - (2.0 * s_pt + 1.0) / den
    g_dice = -(2.0 * target * den - (2.0 * s_pt + 1.0)) / (den * den) * dp
    q = p + target * (1.0 - 2.0 * p)  # 1 - p_t
    ce = np.logaddexp(0.0, z) - target * z
    a = (1.0 - alpha) + target * (2.0 * alpha - 1.0)
    n = z.shape[0]
    focal = float((a * ce * q * q).sum()) / n
    # d(1 - p_t)/dz = (1 - 2t) p (1 - p); d ce / dz = p - t
    g_focal = a * q * ((p - target) * q + 2.0 * ce * (1.0 - 2.0 * target) * dp) / n
    return dice + focal, diffs @ (g_dice + g_focal)


def fit_mask_weights(
    logits: Tensor | np.ndarray,
    target: Tensor | np.ndarray,
    *,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    weight_decay: float = 0.01,
) -> tuple[Tensor, float]:
    """Learn the three mask weights ``(1 - w1 - w2, w1, w2)`` (``w1 = w2 = 1/3`` at the start).

    AdamW (betas 0.9 / 0.999, eps 1e-4, weight decay 0.01, as ``torch.optim.AdamW`` with upstream's settings)
    with a cosine schedule over ``steps`` (``CosineAnnealingLR``), on the exact gradient of the dice + focal
    loss (:func:`loss_and_grad`).

    Args:
        logits: ``3 x h x w`` (or ``3 x N``) float logits of the multimask outputs, fixed.
        target: ``h x w`` (or ``N``) bool / {0, 1} reference mask on the same grid.
        steps: optimisation steps. lr: peak learning rate.
    Returns:
        weights ``3`` float32 tensor and the loss at the last step.
    """
    flat = np.asarray(logits.detach().cpu() if isinstance(logits, Tensor) else logits, dtype=np.float32)
    goal = np.asarray(target.detach().cpu() if isinstance(target, Tensor) else target, dtype=np.float32)
    if flat.ndim < 2 or flat.shape[0] != 3:
        raise PromptError(f"logits must be 3 x ..., got shape {flat.shape}")
    flat, goal = flat.reshape(3, -1), goal.reshape(-1)
    if goal.shape[0] != flat.shape[1]:
        raise PromptError(f"target has {goal.shape[0]} pixels, logits have {flat.shape[1]}")
    if steps < 1:
        raise PromptError(f"steps must be >= 1, got {steps}")
    base, diffs = flat[0], np.ascontiguousarray(flat[1:] - flat[0])
    w = np.full(2, 1.0 / 3.0, dtype=np.float32)
    m = np.zeros(2, dtype=np.float64)
    v = np.zeros(2, dtype=np.float64)
    beta1, beta2, eps = 0.9, 0.999, 1e-4
    loss = 0.0
    for t in range(1, steps + 1):
        loss, grad = loss_and_grad(w, base, diffs, goal)
        step_lr = lr * (1.0 + math.cos(math.pi * (t - 1) / steps)) / 2.0
        m = beta1 * m + (1.0 - beta1) * grad
        v = beta2 * v + (1.0 - beta2) * grad * grad
        update = (m / (1.0 - beta1**t)) / (np.sqrt(v / (1.0 - beta2**t)) + eps)
        w = (w * (1.0 - step_lr * weight_decay) - step_lr * update).astype(np.float32)
    weights = np.concatenate([[1.0 - w.sum()], w]).astype(np.float32)
    return torch.from_numpy(weights), float(loss)


def _fit_grid(predictor: SamPredictor, fit_side: int) -> tuple[int, int]:
    if predictor.original_size is None:
        raise PromptError("no image is set")
    h, w = predictor.original_size
    if max(h, w) <= fit_side:
        return h, w
    return get_preprocess_shape(h, w, fit_side)


def learn_mask_weights(
    predictor: SamPredictor,
    reference: PersamReference,
    mask: np.ndarray,
    *,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    fit_side: int = DEFAULT_FIT_SIDE,
) -> tuple[PersamReference, FitReport]:
    """Fit PerSAM-F's weights on the reference image (the predictor's current image) and its mask.

    One decoder pass (the positive point of the reference's own similarity map, multimask output), then
    :func:`fit_mask_weights` on the three logits mapped to a grid of longest side ``fit_side`` (the reference
    mask resized there with area averaging, ``>= 0.5``).

    Returns:
        the reference with ``mask_weights`` set, and the :class:`FitReport`.
    """
    if predictor.input_size is None or predictor.original_size is None:
        raise PromptError("PerSAM-F needs the reference image set on the predictor")
    sim = similarity_map(predictor, reference.blend)
    points, labels = location_prior(sim)
    step = decode(predictor, points[:1], labels[:1], multimask_output=True)
    size = _fit_grid(predictor, fit_side)
    with torch.inference_mode():  # upstream's mask post-processing, to the fit grid instead of the image
        logits = predictor.model.postprocess_masks(step.logits[None], predictor.input_size, size)[0].cpu()
    small = cv2.resize(
        (np.asarray(mask) > 0).astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA
    )
    start = time.perf_counter()
    weights, loss = fit_mask_weights(logits, torch.from_numpy(small >= 0.5), steps=steps, lr=lr)
    seconds = time.perf_counter() - start
    report = FitReport(weights=weights, loss=loss, seconds=seconds, steps=steps, size=size)
    return replace(reference, mask_weights=weights), report


def segment_target_f(
    predictor: SamPredictor,
    reference: PersamReference,
    *,
    sim: Tensor | None = None,
) -> PersamResult:
    """PerSAM-F on the predictor's current image (three decoder passes).

    Args:
        reference: with ``mask_weights`` (from :func:`learn_mask_weights`).
        sim: ``H x W`` similarity for the positive point (default: :func:`similarity_map` of
            ``reference.blend``); the multi-instance search passes one with found objects suppressed.
    Returns:
        the :class:`PersamResult`; ``steps[0]`` holds the three first-step logits (unweighted).
    """
    if reference.mask_weights is None:
        raise PromptError("PerSAM-F needs learned mask weights: call learn_mask_weights on the reference")
    if sim is None:
        sim = similarity_map(predictor, reference.blend)
    points, labels = location_prior(sim)
    points, labels = points[:1], labels[:1]
    step1 = decode(predictor, points, labels, multimask_output=True)
    weights = reference.mask_weights.to(step1.logits)
    weighted = (step1.logits * weights[:, None, None]).sum(0)  # 256 x 256
    first = predictor.upscale_masks(weighted[None, None])[0, 0] > predictor.model.mask_threshold
    first_box = mask_box(first.cpu().numpy())
    step2, step3, box, final = cascaded_refinement(predictor, points, labels, weighted, first_box=first_box)
    return PersamResult(
        mask=final,
        score=float(step3.scores[step3.best]),
        points=points,
        labels=labels,
        similarity=float(sim[int(points[0, 1]), int(points[0, 0])]),
        steps=(step1, step2, step3),
        box=box,
    )
