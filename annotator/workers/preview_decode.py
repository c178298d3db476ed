"""A hover preview's answer: the best candidate at the view's resolution, its edge marked.

SAM-family engines (SAM, MobileSAM, SAM 2) decode the low-res logits only and upscale the best candidate
straight to the preview's size (:func:`sam_model.preview.predict_best`; ``predict`` would upscale every
candidate to the full image); other engines (the classical one) go through ``predict`` and
:func:`~annotator.workers.mask_preview.mask_preview`.

The low-res decode runs on one intra-op thread (:data:`PREVIEW_THREADS`): the decoder's operations are small,
and on this 2-core CPU a second OpenMP thread competes with the GUI thread, which must stay smooth while the
pointer moves. Measured with MobileSAM in a worker thread (load average 4.5): 64 ms per preview on one thread,
75 ms on two (90th percentile 77 and 89 ms).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from annotator.workers.mask_preview import (
    MaskPreview,
    marked_preview,
    mask_preview,
    preview_scale,
    preview_size,
)
from annotator.workers.requests import DecodeRequest, DecodeResult
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
    """Whether ``segmenter`` has the cheaper low-res preview decode (:func:`sam_model.preview.supports_preview`)."""
    from sam_model.preview import supports_preview

    return supports_preview(segmenter)


def decode_preview(
    segmenter: Segmenter, request: DecodeRequest, mask_input: np.ndarray | None
) -> tuple[MaskPreview, np.ndarray, np.ndarray]:
    """``(preview, scores C, low_res_logits C x 256 x 256)`` of ``request``'s prompts on ``segmenter`` (see
    :func:`decodes_low_res`); the preview is the best candidate's at ``request.outline_scale``'s resolution.
    Raises what the engine raises (``SamModelError`` for bad prompts, ``NoImageError`` without an image)."""
    from sam_model.errors import NoImageError
    from sam_model.preview import predict_best

    size = getattr(segmenter, "original_size", None)
    if size is None:
        raise NoImageError("no image is set: call set_image first")
    image_size = (int(size[0]), int(size[1]))
    small = preview_size(image_size, preview_scale(image_size, request.outline_scale))
    with _intra_op_threads(PREVIEW_THREADS):
        best = predict_best(
            segmenter,
            point_coords=request.points,
            point_labels=request.labels,
            box=request.box,
            mask_input=mask_input,
            multimask_output=request.multimask,
            size=small,
        )
    inside = np.ascontiguousarray(best.mask).view(np.uint8)
    return marked_preview(inside, image_size), best.scores, best.low_res_logits
