"""Immutable request and answer snapshots exchanged between the GUI thread and the segment worker.

The GUI never shares mutable state with the worker: it builds one of these frozen dataclasses, sends it, and
the worker answers with another. Arrays inside are treated as read-only by both sides (the GUI copies before
it sends, see :func:`frozen_array`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sam_model.protocol import Segmenter


def frozen_array(array: np.ndarray | None, dtype: type | None = None) -> np.ndarray | None:
    """A private, read-only copy of ``array`` (or ``None``), safe to hand to another thread.

    An array that is already read-only and owns its data (e.g. decoded image pixels) is passed as is: copying
    a 24-megapixel image on the GUI thread would stall it.
    """
    if array is None:
        return None
    if (
        not array.flags.writeable
        and array.flags.owndata
        and (dtype is None or array.dtype == np.dtype(dtype))
    ):
        return array
    copy = np.array(array, dtype=dtype, copy=True)
    copy.setflags(write=False)
    return copy


@dataclass(frozen=True)
class EncodeRequest:
    """Make ``image_id`` the worker's current image (the heavy ``set_image`` step, or a cache restore).

    Attributes:
        image_id: the GUI's identity of the image (unique within the open folder).
        rgb: ``H x W x 3`` uint8 RGB pixels, read-only.
        cache_key: key for the persistent embedding cache (the pixels' hash); ``None``: the worker computes
            it when it has a disk cache.
    """

    image_id: str
    rgb: np.ndarray
    cache_key: str | None = None


@dataclass(frozen=True)
class DecodeRequest:
    """Decode masks for all the prompts of the current object on ``image_id``.

    Attributes:
        image_id: the image the prompts belong to.
        request_no: increasing number given by the GUI; only the newest answer is used.
        points: ``N x 2`` float32 ``(x, y)`` pixels, or ``None``.
        labels: ``N`` int32 (1 positive, 0 negative), or ``None``.
        box: ``4`` float32 ``(x0, y0, x1, y1)``, or ``None``.
        mask_input: ``1 x 256 x 256`` float32 low-res logits of the current object, or ``None``.
        seed_mask: ``H x W`` bool mask of the object being refined, used when there are no logits yet: the
            worker turns it into ``mask_input`` in the engine's low-res frame (``Segmenter.low_res_frame``).
        multimask: ask for three candidate masks (ambiguous prompt) instead of one.
        hover: a hover preview (the mask under the resting pointer): the lowest priority, dropped by any click;
            its ``request_no`` counts hover requests only.
    """

    image_id: str
    request_no: int
    points: np.ndarray | None
    labels: np.ndarray | None
    box: np.ndarray | None
    mask_input: np.ndarray | None
    multimask: bool
    seed_mask: np.ndarray | None = None
    hover: bool = False


@dataclass(frozen=True)
class DecodeResult:
    """The worker's answer to a :class:`DecodeRequest`.

    Attributes:
        masks: ``C x H x W`` bool; ``scores``: ``C`` float32 predicted IoU; ``low_res_logits``:
            ``C x 256 x 256`` float32; ``decode_seconds``: time spent in ``predict``; ``hover``: the answer to a
            hover preview request.
    """

    image_id: str
    request_no: int
    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    decode_seconds: float
    hover: bool = False

    @property
    def best_index(self) -> int:
        """Index of the candidate with the highest predicted IoU."""
        return int(np.argmax(self.scores)) if len(self.scores) else 0


@dataclass(frozen=True)
class EngineRequest:
    """Replace the worker's segmenter: ``checkpoint`` ``None`` = the classical engine."""

    checkpoint: str | None
    device: str = "auto"
    dtype: str = "float32"


SegmenterFactory = Callable[[EngineRequest], Segmenter]
"""Builds a segmenter for an engine request (replaceable in tests)."""


def create_engine_segmenter(request: EngineRequest) -> Segmenter:
    """A new segmenter for ``request``: SAM from ``request.checkpoint`` (architecture detected from the
    file), else the classical engine."""
    from sam_model.engines import create_segmenter

    return create_segmenter(request.checkpoint, device=request.device, dtype=request.dtype)


@dataclass(frozen=True)
class EngineInfo:
    """What the worker reports after loading an engine."""

    model_id: str
    checkpoint: str | None
    device: str
    dtype: str
