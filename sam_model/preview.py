"""A preview decode for SAM-family predictors: low-res logits only, the best candidate upscaled straight to a
requested size.

``predict`` upscales every candidate's ``256 x 256`` logits to the full image (three 2 MP float arrays for a
first point on a 1920 x 1080 image), thresholds and copies them: about a quarter of a MobileSAM decode, for
masks that a hover preview then shows scaled down. :func:`predict_best` decodes the low-res logits alone and
upscales only the best candidate, by :func:`sam_model.transforms.upscale_logits` (the same two bilinear steps
as ``predict``), to the size asked for; at the image's own size its mask is ``predict``'s best mask.

It works with the predictors that offer the low-res decode the automatic mask generator uses
(:class:`~sam_model.sam.predictor.SamPredictor` for SAM and MobileSAM,
:class:`~sam_model.sam2.predictor.Sam2Predictor`): :func:`supports_preview` tells. Other engines (the
classical one) have no cheaper path than their ``predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sam_model.errors import NoImageError
from sam_model.inputs import check_mask_input
from sam_model.low_res import LowResFrame

_NEEDED = ("decode_low_res", "transform", "original_size", "input_size", "device", "model")


@dataclass(frozen=True)
class BestMask:
    """The best candidate of a preview decode.

    Attributes:
        mask: ``h x w`` bool at the size asked for.
        index: which candidate it is (row of ``scores`` and ``low_res_logits``).
        scores: ``C`` float32 predicted IoU of every candidate.
        low_res_logits: ``C x 256 x 256`` float32 logits of every candidate (as ``predict`` returns them).
    """

    mask: np.ndarray
    index: int
    scores: np.ndarray
    low_res_logits: np.ndarray


def supports_preview(segmenter: object) -> bool:
    """Whether ``segmenter`` offers the low-res decode :func:`predict_best` needs (SAM, MobileSAM, SAM 2)."""
    return all(hasattr(segmenter, name) for name in _NEEDED) and callable(
        getattr(segmenter, "decode_low_res", None)
    )


def predict_best(
    predictor: Any,
    *,
    point_coords: np.ndarray | None,
    point_labels: np.ndarray | None,
    box: np.ndarray | None,
    mask_input: np.ndarray | None,
    multimask_output: bool,
    size: tuple[int, int],
) -> BestMask:
    """Decode prompts given in original-image pixels (as ``predict`` takes them) and return the best candidate
    at ``size`` ``(h, w)`` (e.g. the image's size scaled to the view).

    ``predictor``: one for which :func:`supports_preview` holds, with an image set. Raises ``NoImageError``
    without an image and ``SamModelError`` for bad prompts, as ``predict`` does.
    """
    import torch

    from sam_model.transforms import upscale_logits

    original = predictor.original_size
    if original is None or predictor.input_size is None:
        raise NoImageError("no image is set: call set_image first")
    device = predictor.device
    points = None
    if point_coords is not None and point_labels is not None:
        coords = predictor.transform.apply_coords(np.asarray(point_coords, np.float64), original)
        points = (
            torch.as_tensor(coords, dtype=torch.float32, device=device)[None],
            torch.as_tensor(np.array(point_labels, np.int64), device=device)[None],  # (a writable copy)
        )
    boxes = None
    if box is not None:
        box_t = predictor.transform.apply_boxes(np.asarray(box, np.float64).reshape(1, 4), original)
        boxes = torch.as_tensor(box_t, dtype=torch.float32, device=device).reshape(1, 4)
    masks_in = None
    if mask_input is not None:
        masks_in = torch.as_tensor(check_mask_input(mask_input), device=device)[None]
    with torch.inference_mode():
        low_res, iou = predictor.decode_low_res(points, boxes, masks_in, multimask_output=multimask_output)
    logits = low_res[0].float().cpu().numpy()
    scores = iou[0].float().cpu().numpy()
    best = int(np.argmax(scores)) if len(scores) else 0
    side = logits.shape[-1]
    input_size: tuple[int, int]
    if getattr(predictor, "low_res_frame", None) is LowResFrame.SQUARE:
        pad, input_size = side, (side, side)  # the logits cover the whole square-resized image (SAM 2)
    else:
        pad = int(predictor.model.image_size)
        input_size = (int(predictor.input_size[0]), int(predictor.input_size[1]))
    threshold = float(predictor.model.mask_threshold)
    mask = upscale_logits(logits[best : best + 1], pad, input_size, size, threshold=threshold)[0]
    return BestMask(mask, best, scores, logits)
