"""Boxes to masks: one mask per box prompt on one image, batched where the engine can, for any engine.

:func:`masks_for_boxes` is the per-image entry point (the CLI, the app's background job and cluster workers
call it once per image)::

    results = masks_for_boxes(segmenter, image_rgb, boxes_xyxy)   # encodes the image, then decodes
    results[i].mask      # H x W bool, the mask of box i
    results[i].score     # the engine's predicted quality (SAM: predicted IoU)

:func:`decode_boxes` does the decoding alone on the image already set (a restored embedding, or to time the
decoding apart from the encoding), and :func:`iter_box_masks` yields the results batch by batch, so a caller
can encode each mask (RLE) and check for cancellation before the next batch is decoded.

Engines: SAM v1, MobileSAM and SAM 2 / 2.1 predictors decode the boxes in batches (their ``predict_torch``,
prompts in the resized input frame: the same numbers as one ``predict(box=...)`` per box, up to float
rounding in the batched matrix products); any other :class:`~sam_model.protocol.Segmenter` (the classical
engine) gets one ``predict(box=...)`` per box. A box is not ambiguous, so one mask is decoded per box
(``multimask_output=False``, as upstream recommends for boxes) unless ``multimask`` asks for the best of
three candidates by score.

Boxes are ``N x 4`` ``(x0, y0, x1, y1)`` in pixels of the original image (corners, so a COCO
``[x, y, w, h]`` box is ``(x, y, x + w, y + h)``). A box must be finite, have ``x1 > x0`` and ``y1 > y0``
and overlap the image: :class:`~sam_model.errors.PromptError` says which box is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sam_model.errors import NoImageError, PromptError
from sam_model.inputs import check_image
from sam_model.protocol import Segmenter

LOGITS_BUDGET_BYTES = 1 << 28
"""Upscaled float32 logits of one batch stay below this (256 MiB): the batch shrinks on large images."""
MAX_BATCH = 16
"""Boxes decoded per batch at most (the decoder itself runs in its own chunks, see ``decode_low_res``)."""


@dataclass(frozen=True)
class BoxMask:
    """The answer for one box.

    Attributes:
        index: the box's position in the input (``boxes_xyxy[index]``).
        box: the box ``(x0, y0, x1, y1)`` in image pixels, as given.
        mask: ``H x W`` bool, the object's pixels (may be empty when the model finds nothing).
        score: the engine's quality estimate of ``mask`` (SAM: predicted IoU; about ``[0, 1]``).
    """

    index: int
    box: tuple[float, float, float, float]
    mask: np.ndarray
    score: float


def check_boxes(boxes_xyxy: object, image_size: tuple[int, int]) -> np.ndarray:
    """``boxes_xyxy`` as an ``N x 4`` float64 array (``N`` may be 0), or :class:`PromptError` naming the first
    bad box. ``image_size``: ``(H, W)`` in pixels."""
    try:
        arr = np.asarray(boxes_xyxy, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"boxes are not numeric: {exc}") from exc
    if arr.size == 0:
        return np.zeros((0, 4), np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise PromptError(f"boxes must be N x 4 (x0, y0, x1, y1), got shape {arr.shape}")
    height, width = image_size
    for i, (x0, y0, x1, y1) in enumerate(arr):
        if not np.all(np.isfinite((x0, y0, x1, y1))):
            raise PromptError(f"box {i} is not four finite numbers: {arr[i].tolist()}")
        if x1 <= x0 or y1 <= y0:
            raise PromptError(f"box {i} {arr[i].tolist()} is empty: it needs x1 > x0 and y1 > y0")
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            raise PromptError(f"box {i} {arr[i].tolist()} lies outside the {width}x{height} image")
    return arr


def masks_for_boxes(
    segmenter: Segmenter,
    image_rgb: np.ndarray,
    boxes_xyxy: object,
    *,
    multimask: bool = False,
    batch_size: int | None = None,
) -> list[BoxMask]:
    """Encode ``image_rgb`` (``H x W x 3`` uint8 RGB) with ``segmenter``, then one mask per box (in order).

    Raises ``ImageError`` for a bad image and ``PromptError`` for a bad box (before encoding anything).
    """
    image = check_image(image_rgb)
    boxes = check_boxes(boxes_xyxy, (int(image.shape[0]), int(image.shape[1])))
    if len(boxes) == 0:
        return []
    segmenter.set_image(image)
    return decode_boxes(segmenter, boxes, multimask=multimask, batch_size=batch_size)


def decode_boxes(
    segmenter: Segmenter, boxes_xyxy: object, *, multimask: bool = False, batch_size: int | None = None
) -> list[BoxMask]:
    """One mask per box on the segmenter's current image (``set_image`` / ``set_embedding`` done before)."""
    out: list[BoxMask] = []
    for batch in iter_box_masks(segmenter, boxes_xyxy, multimask=multimask, batch_size=batch_size):
        out.extend(batch)
    return out


def iter_box_masks(
    segmenter: Segmenter, boxes_xyxy: object, *, multimask: bool = False, batch_size: int | None = None
) -> Iterator[list[BoxMask]]:
    """The masks of :func:`decode_boxes`, one list per decoded batch (in box order).

    ``batch_size``: boxes per batch (default: up to :data:`MAX_BATCH`, fewer on large images so a batch's
    logits stay under :data:`LOGITS_BUDGET_BYTES`). Raises ``NoImageError`` without a current image.
    """
    size = _image_size(segmenter)
    boxes = check_boxes(boxes_xyxy, size)
    if batch_size is not None and batch_size < 1:
        raise PromptError(f"batch_size must be >= 1, got {batch_size}")
    if not batched_decoding(segmenter):
        for i, box in enumerate(boxes):
            masks, scores, _ = segmenter.predict(box=box, multimask_output=multimask)
            best = int(np.argmax(scores))
            yield [BoxMask(i, _as_tuple(box), np.asarray(masks[best], bool), float(scores[best]))]
        return
    candidates = 3 if multimask else 1
    per_box = size[0] * size[1] * 4 * candidates
    step = batch_size or max(1, min(MAX_BATCH, LOGITS_BUDGET_BYTES // max(per_box, 1)))
    for start in range(0, len(boxes), step):
        yield _decode_batch(segmenter, boxes[start : start + step], start, multimask)


def batched_decoding(segmenter: object) -> bool:
    """Whether ``segmenter`` has SAM's batched decoding (``predict_torch`` + ``transform.apply_boxes``)."""
    return callable(getattr(segmenter, "predict_torch", None)) and callable(
        getattr(getattr(segmenter, "transform", None), "apply_boxes", None)
    )


def _image_size(segmenter: Segmenter) -> tuple[int, int]:
    """``(H, W)`` of the current image, or :class:`NoImageError`."""
    if not segmenter.is_image_set:
        raise NoImageError("no image is set: call set_image (or masks_for_boxes) first")
    size = getattr(segmenter, "original_size", None)
    if size is None:
        size = segmenter.get_embedding().original_size
    return int(size[0]), int(size[1])


def _decode_batch(segmenter: Any, boxes: np.ndarray, first: int, multimask: bool) -> list[BoxMask]:
    """One ``predict_torch`` call for ``boxes`` (``B x 4`` image pixels); the best candidate of each."""
    import torch

    size = segmenter.original_size
    frame = segmenter.transform.apply_boxes(boxes, size)
    boxes_t = torch.as_tensor(frame, dtype=torch.float32, device=segmenter.device)
    masks, scores, _ = segmenter.predict_torch(None, None, boxes_t, multimask_output=multimask)
    best = scores.argmax(dim=1)
    rows = torch.arange(len(boxes), device=scores.device)
    chosen = masks[rows, best.to(masks.device)].cpu().numpy().astype(bool, copy=False)
    values = scores[rows, best].float().cpu().numpy()
    return [BoxMask(first + i, _as_tuple(box), chosen[i], float(values[i])) for i, box in enumerate(boxes)]


def _as_tuple(box: np.ndarray) -> tuple[float, float, float, float]:
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])
