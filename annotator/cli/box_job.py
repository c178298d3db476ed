"""One image of "boxes to masks": load it, run the model on its boxes, return the proposals (no Qt).

:func:`segment_image_boxes` is the unit of work that ``main.py boxes-to-masks``, the app's background job
(Tools > Boxes to masks) and distributed workers (one call per image, e.g. from a Ray actor that holds a
segmenter) share::

    from annotator.cli.box_job import segment_image_boxes
    from annotator.core.box_objects import read_coco_boxes

    boxes = read_coco_boxes("boxes.json")
    for image in boxes.images:
        result = segment_image_boxes(segmenter, folder, image)
        if result.error is None:
            annotations = [p.to_coco(image.image_id, n) for n, p in enumerate(result.proposals, 1)]

``result.proposals`` are :class:`~annotator.core.box_objects.BoxProposal` values (RLE mask, score, category,
the source box's id), ``result.to_coco(image_id, first_annotation_id)`` gives COCO proposal annotations and
``result.error`` one line naming the file when the image could not be segmented. Torch is imported only when
the model runs (through ``sam_model.box_prompts``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.cluster.sources import image_label, load_source_image
from annotator.core.box_objects import (
    SOURCE_BOX_CLASSIC,
    SOURCE_BOX_SAM,
    BoxImage,
    BoxProposal,
    box_proposals,
)
from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.core.errors import CoreError, ImageLoadError
from sam_model.box_prompts import batched_decoding, check_boxes, iter_box_masks
from sam_model.errors import SamModelError
from sam_model.protocol import Segmenter

ImageSetter = Callable[[np.ndarray], None]
"""``set_image(rgb)``: make ``rgb`` the segmenter's current image (e.g. from an embedding cache)."""
BoxProgress = Callable[[int, int], None]
"""``progress(boxes_done, boxes_total)`` within the image."""


@dataclass
class ImageResult:
    """What one image gave: proposals (in box order), notes (boxes without a mask), or an error.

    ``encode_s`` / ``decode_s``: seconds spent setting the image (encoding) and decoding the boxes.
    ``cancelled``: the cancel event fired before the last batch (``proposals`` holds what was done).
    """

    file_name: str
    proposals: list[BoxProposal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    encode_s: float = 0.0
    decode_s: float = 0.0
    cancelled: bool = False

    def to_coco(self, image_id: int, first_id: int) -> list[dict[str, Any]]:
        """COCO proposal annotations of this image (ids from ``first_id``)."""
        return [p.to_coco(image_id, first_id + n) for n, p in enumerate(self.proposals)]


def segment_image_boxes(
    segmenter: Segmenter,
    folder: str | Path,
    image: BoxImage,
    *,
    multimask: bool = False,
    set_image: ImageSetter | None = None,
    progress: BoxProgress | None = None,
    cancel: threading.Event | None = None,
) -> ImageResult:
    """Segment every box of ``image`` (its file under ``folder``, a folder path or an object-storage URL:
    :mod:`annotator.cluster.sources`) with ``segmenter``.

    Never raises for a bad image file or a size that differs from the record: the result's ``error`` says
    so in one line naming the file. A box the model cannot take (outside the image, empty) and a box the
    model finds nothing in are left out with a note. ``cancel`` is checked between batches of boxes.
    """
    result = ImageResult(image.file_name)
    path = image_label(folder, image.file_name)
    try:
        rgb = load_source_image(folder, image.file_name).rgb
    except ImageLoadError as exc:
        result.error = str(exc)
        return result
    if rgb.shape[:2] != (image.height, image.width):
        result.error = (
            f"{path}: the image is {rgb.shape[1]}x{rgb.shape[0]}, the boxes are for "
            f"{image.width}x{image.height}"
        )
        return result
    image = _usable_boxes(image, result.notes)
    boxes = image.boxes_xyxy()
    if len(boxes) == 0:
        return result
    source = SOURCE_BOX_SAM if batched_decoding(segmenter) else SOURCE_BOX_CLASSIC
    try:
        started = time.perf_counter()
        (set_image or segmenter.set_image)(rgb)
        result.encode_s = time.perf_counter() - started
        started = time.perf_counter()
        done = 0
        for batch in iter_box_masks(segmenter, boxes, multimask=multimask):
            made, empty = box_proposals(
                image,
                [(m.index, m.mask, m.score) for m in batch],
                source=source,
                engine=segmenter.model_id,
            )
            result.proposals.extend(made)
            result.notes.extend(empty)
            done += len(batch)
            if progress is not None:
                progress(done, len(boxes))
            if cancel is not None and cancel.is_set() and done < len(boxes):
                result.cancelled = True
                break
        result.decode_s = time.perf_counter() - started
    except (SamModelError, CoreError, RuntimeError, MemoryError) as exc:
        result.error = f"{path}: segmenting the boxes failed: {exc}"
        result.proposals = []
    return result


def cached_image_setter(segmenter: Segmenter, cache: EmbeddingCache) -> ImageSetter:
    """An :data:`ImageSetter` that restores the image's embedding from ``cache`` (keyed by the pixels and the
    engine's ``model_id``) instead of encoding it, and stores the embeddings it computes."""

    def set_image(rgb: np.ndarray) -> None:
        key = image_key(rgb)
        cached = cache.get(key, segmenter.model_id)
        if cached is not None:
            try:
                segmenter.set_embedding(cached)
                return
            except SamModelError:
                pass  # a stale entry: encode again and overwrite it
        segmenter.set_image(rgb)
        cache.put(key, segmenter.get_embedding())

    return set_image


def _usable_boxes(image: BoxImage, notes: list[str]) -> BoxImage:
    """``image`` with only the boxes a model can take; each other one gets a note naming the file and box."""
    kept = []
    for prompt in image.prompts:
        try:
            check_boxes([prompt.box_xyxy], (image.height, image.width))
        except SamModelError as exc:
            reason = str(exc).partition("] ")[2] or str(exc)
            notes.append(f"{image.file_name}: box {prompt.source_id} skipped: {reason}")
            continue
        kept.append(prompt)
    return dataclasses.replace(image, prompts=tuple(kept))
