"""A hover preview's decode for SAM-family engines: low-res logits only, the best candidate upscaled straight to
the preview's resolution.

``Segmenter.predict`` upscales every candidate's ``256 x 256`` logits to the full image (three 2 MP float
arrays for a first point on a 1920 x 1080 image), thresholds and copies them: about a quarter of a MobileSAM
decode, for masks the preview then scales down. A SAM-like predictor (SAM, MobileSAM, SAM 2: the interface
``sam_model.automatic.generator`` uses too: ``transform.apply_coords`` / ``apply_boxes``, ``original_size``,
``input_size``, ``device``, ``model.image_size``, ``model.mask_threshold`` and ``decode_low_res``) is asked
for the low-res logits alone; the best candidate's are upscaled by ``sam_model.transforms.upscale_logits``, the
same two bilinear steps as ``predict``, to the preview's size instead of the image's (at scale 1, ``predict``'s
mask exactly). Other engines (the classical one) go through ``predict`` and ``mask_preview``.

The low-res decode runs on one intra-op thread (:data:`PREVIEW_THREADS`): the decoder's operations are small,
and on this 2-core CPU a second OpenMP thread competes with the GUI thread, which must stay smooth while the
pointer moves. Measured with MobileSAM in a worker thread (load average 4.5): 64 ms per preview on one thread,
75 ms on two (90th percentile 77 and 89 ms).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from annotator.workers.mask_preview import (
    MaskPreview,
    marked_preview,
    mask_preview,
    preview_scale,
    preview_size,
)
from annotator.workers.requests import DecodeRequest, DecodeResult
from sam_model.low_res import LowResFrame
from sam_model.protocol import Segmenter

PREVIEW_THREADS = 1
"""Torch intra-op threads for a preview's low-res decode (the worker's count is restored after it)."""


@contextmanager
def _intra_op_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads in this thread, then restore the count."""
    import torch

    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def hover_answer(segmenter: Segmenter, request: DecodeRequest, mask_input: np.ndarray | None) -> DecodeResult:
    """The answer to hover preview ``request``: its best candidate only, as a preview at the view's resolution
    (``DecodeResult.preview``, and as ``masks`` ``1 x h x w``); no contour traced. ``decode_seconds``: the whole
    of it. Raises what the engine raises."""
    start = time.perf_counter()
    if decodes_low_res(segmenter):
        preview, scores, logits = decode_preview(segmenter, request, mask_input)
    else:
        masks, scores, logits = segmenter.predict(
            point_coords=request.points,
            point_labels=request.labels,
            box=request.box,
            mask_input=mask_input,
            multimask_output=request.multimask,
        )
        best = int(np.argmax(scores)) if len(scores) else 0
        preview = mask_preview(masks[best], request.outline_scale)
    best = int(np.argmax(scores)) if len(scores) else 0
    return DecodeResult(
        image_id=request.image_id,
        request_no=request.request_no,
        masks=preview.mask()[None],
        scores=np.asarray(scores[best : best + 1], np.float32),
        low_res_logits=np.asarray(logits[best : best + 1], np.float32),
        decode_seconds=time.perf_counter() - start,
        hover=True,
        preview=preview,
    )


def decodes_low_res(segmenter: Segmenter) -> bool:
    """Whether ``segmenter`` offers the SAM-like low-res decode this module uses."""
    needed = ("decode_low_res", "transform", "original_size", "input_size", "device", "model")
    return all(hasattr(segmenter, name) for name in needed) and callable(
        getattr(segmenter, "decode_low_res", None)
    )


def decode_preview(
    segmenter: Any, request: DecodeRequest, mask_input: np.ndarray | None
) -> tuple[MaskPreview, np.ndarray, np.ndarray]:
    """``(preview, scores C, low_res_logits C x 256 x 256)`` of ``request``'s prompts on ``segmenter`` (see
    :func:`decodes_low_res`); the preview is the best candidate's at ``request.outline_scale``'s resolution.
    Raises what the engine raises (``SamModelError`` for bad prompts)."""
    import torch

    from sam_model.errors import NoImageError
    from sam_model.inputs import check_mask_input
    from sam_model.transforms import upscale_logits

    size = segmenter.original_size
    if size is None or segmenter.input_size is None:
        raise NoImageError("no image is set: call set_image first")
    device = segmenter.device
    points = None
    if request.points is not None and request.labels is not None:
        coords = segmenter.transform.apply_coords(np.asarray(request.points, np.float64), size)
        points = (
            torch.as_tensor(coords, dtype=torch.float32, device=device)[None],
            torch.as_tensor(np.array(request.labels, np.int64), device=device)[None],  # (a writable copy)
        )
    boxes = None
    if request.box is not None:
        box = segmenter.transform.apply_boxes(np.asarray(request.box, np.float64).reshape(1, 4), size)
        boxes = torch.as_tensor(box, dtype=torch.float32, device=device).reshape(1, 4)
    masks_in = None
    if mask_input is not None:
        masks_in = torch.as_tensor(check_mask_input(mask_input), device=device)[None]
    with _intra_op_threads(PREVIEW_THREADS):
        low_res, iou = segmenter.decode_low_res(points, boxes, masks_in, multimask_output=request.multimask)
    logits = low_res[0].float().cpu().numpy()
    scores = iou[0].float().cpu().numpy()
    best = int(np.argmax(scores)) if len(scores) else 0
    side = logits.shape[-1]
    input_size: tuple[int, int]
    if getattr(segmenter, "low_res_frame", None) is LowResFrame.SQUARE:
        pad, input_size = side, (side, side)  # the logits cover the whole square-resized image (SAM 2)
    else:
        pad, input_size = (
            int(segmenter.model.image_size),
            (int(segmenter.input_size[0]), int(segmenter.input_size[1])),
        )
    image_size = (int(size[0]), int(size[1]))
    small = preview_size(image_size, preview_scale(image_size, request.outline_scale))
    up = upscale_logits(logits[best : best + 1], pad, input_size, small)[0]
    inside = (up > float(segmenter.model.mask_threshold)).view(np.uint8)
    return marked_preview(inside, image_size), scores, logits
