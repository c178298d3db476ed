"""Immutable request and answer snapshots exchanged between the GUI thread and the segment worker.

The GUI never shares mutable state with the worker: it builds one of these frozen dataclasses, sends it, and
the worker answers with another. Arrays inside are treated as read-only by both sides (the GUI copies before
it sends, see :func:`frozen_array`). :class:`EngineRequest` is the session's engine choice
(``annotator.core.engine_choice``), sent as is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

import numpy as np

from annotator.core.engine_choice import EngineRequest
from annotator.workers.mask_outline import MaskOutline
from annotator.workers.mask_preview import MaskPreview
from sam_model.protocol import Segmenter


@overload
def frozen_array(array: np.ndarray, dtype: type | None = None) -> np.ndarray: ...
@overload
def frozen_array(array: None, dtype: type | None = None) -> None: ...
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
        outline_scale: the view's zoom (screen pixels per image pixel) when asked: the best mask's outline is
            stroked for it by the worker (``mask_outline.OutlineSprite``); ``None``: outlines are only traced.
            A hover preview is made at this zoom's resolution (``mask_preview.preview_scale``).
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
    outline_scale: float | None = None


@dataclass(frozen=True)
class DecodeResult:
    """The worker's answer to a :class:`DecodeRequest`.

    Attributes:
        masks: ``C x H x W`` bool; ``scores``: ``C`` float32 predicted IoU; ``low_res_logits``:
            ``C x 256 x 256`` float32; ``decode_seconds``: time spent in ``predict``; ``hover``: the answer to a
            hover preview request; ``outlines``: per mask, its bounding box and contour traced by the worker
            (``mask_outline.MaskOutline``), so the GUI thread never traces a full-size mask (empty: not traced).
        preview: a hover answer's best mask at the view's resolution with its edge marked
            (``mask_preview.MaskPreview``); a hover answer's ``masks`` is then that one mask, ``1 x h x w`` at
            the preview's resolution, and it has no ``outlines``.
    """

    image_id: str
    request_no: int
    masks: np.ndarray
    scores: np.ndarray
    low_res_logits: np.ndarray
    decode_seconds: float
    hover: bool = False
    outlines: tuple[MaskOutline, ...] = ()
    preview: MaskPreview | None = None

    @property
    def best_index(self) -> int:
        """Index of the candidate with the highest predicted IoU."""
        return int(np.argmax(self.scores)) if len(self.scores) else 0


SegmenterFactory = Callable[[EngineRequest], Segmenter]
"""Builds a segmenter for an engine request (replaceable in tests)."""


def create_engine_segmenter(request: EngineRequest) -> Segmenter:
    """A new segmenter for ``request``: any family's predictor from ``request.checkpoint``
    (``sam_model.build.load_predictor``: family and architecture detected from the file), else the classical
    engine. ``request.dtype`` ``"auto"`` is resolved for the device first (see :func:`resolve_precision`)."""
    from sam_model.engines import create_segmenter

    resolved = resolve_precision(request)[0] if request.dtype == "auto" else request
    return create_segmenter(resolved.checkpoint, device=resolved.device, dtype=resolved.dtype)


def runs_on(request: EngineRequest) -> str:
    """The device type ``request`` runs on: ``"cpu"`` for the classical engine, else its device resolved
    (``"auto"`` -> cuda, mps or cpu). Raises ``SamModelError`` for an unavailable device. Imports torch only
    for a checkpoint."""
    if request.checkpoint is None:
        return "cpu"
    from sam_model.device import resolve_device

    return resolve_device(request.device).type


def resolve_precision(request: EngineRequest) -> tuple[EngineRequest, str | None]:
    """``request`` with its dtype resolved for its device (``"auto"`` -> bfloat16 only with native support),
    and a warning for the user when an explicit bfloat16 will be slow on this CPU (else ``None``).

    The classical engine has no precision: a request without checkpoint is returned unchanged. Raises
    ``SamModelError`` for an unavailable device or unknown dtype. Imports torch.
    """
    if request.checkpoint is None:
        return request, None
    from sam_model.device import bfloat16_warning, resolve_device, resolve_dtype

    device = resolve_device(request.device)
    warning = bfloat16_warning(request.dtype, device)  # also logged by resolve_dtype
    dtype = resolve_dtype(request.dtype, device)
    return EngineRequest(request.checkpoint, request.device, dtype), warning


@dataclass(frozen=True)
class EngineInfo:
    """What the worker reports after loading an engine."""

    model_id: str
    checkpoint: str | None
    device: str
    dtype: str
    note: str | None = None
    """A warning to show once the engine runs (e.g. a slow explicit bfloat16 on this CPU)."""
    persam_unavailable: str | None = None
    """Why PerSAM (Find similar) cannot run on this engine, or ``None`` when it can."""
    runs_on: str | None = None
    """The device the engine actually runs on (``"cpu"``, ``"cuda"``, ``"mps"``) when ``device`` is ``"auto"``
    or names a device with an index; ``None`` when it is ``device`` itself."""
