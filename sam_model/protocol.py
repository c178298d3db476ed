"""The segmenter protocol: what the app, the CLI, the benchmarks and the tests call on any engine.

Both the SAM predictor (``sam_model.sam.predictor.SamPredictor``) and the classical engine
(``sam_model.classic.segmenter``) implement :class:`Segmenter`, so everything above the model treats them alike.

Conventions (identical to upstream SAM's ``SamPredictor.predict``):

* images are ``H x W x 3`` ``uint8`` RGB NumPy arrays;
* ``point_coords`` is ``N x 2`` float, ``(x, y)`` in pixels of the original image; ``point_labels`` is ``N``
  int, 1 = positive (foreground), 0 = negative (background);
* ``box`` is ``4`` float ``(x0, y0, x1, y1)`` in pixels of the original image;
* ``mask_input`` is ``1 x 256 x 256`` float32 low-resolution logits, usually the best ``low_res_logits`` of the
  previous call for the same object (the refinement loop);
* ``predict`` returns ``(masks, scores, low_res_logits)``: ``masks`` is ``C x H x W`` bool (or float logits when
  ``return_logits``), ``scores`` is ``C`` float32 (predicted IoU / quality in [0, 1]-ish), ``low_res_logits`` is
  ``C x 256 x 256`` float32; ``C`` is 3 with ``multimask_output`` and 1 without.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from sam_model.low_res import LowResFrame


@dataclass(frozen=True)
class ImageEmbedding:
    """An engine's cached per-image state, enough to answer ``predict`` without ``set_image`` again.

    Attributes:
        model_id: identity of the engine that made it (architecture + weights checksum for SAM,
            ``"classic-<version>"`` for the classical engine). An embedding is only restored into an engine
            with the same ``model_id``.
        original_size: ``(H, W)`` of the image it was computed from, in pixels.
        input_size: ``(h, w)`` of the image after the engine's resize, before padding (SAM: longest side 1024).
        arrays: named arrays; SAM stores ``"features"`` (``1 x 256 x 64 x 64`` float32). Engines may store more.
    """

    model_id: str
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Total size of the arrays, in bytes."""
        return int(sum(a.nbytes for a in self.arrays.values()))


Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(masks C x H x W, scores C, low_res_logits C x 256 x 256)``."""


@runtime_checkable
class Segmenter(Protocol):
    """An interactive segmentation engine. Not thread-safe: one worker owns it."""

    @property
    def model_id(self) -> str:
        """Identity of the engine and its weights (used to key embedding caches)."""
        ...

    @property
    def low_res_frame(self) -> LowResFrame:
        """How the image lies on the ``256 x 256`` grid of ``low_res_logits`` / ``mask_input``
        (:mod:`sam_model.low_res`)."""
        ...

    @property
    def is_image_set(self) -> bool:
        """Whether ``set_image`` (or ``set_embedding``) has been called since the last reset."""
        ...

    def set_image(self, image: np.ndarray) -> None:
        """Compute the per-image state (the heavy step). ``image``: ``H x W x 3`` uint8 RGB."""
        ...

    def reset_image(self) -> None:
        """Forget the current image."""
        ...

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """Decode masks for the prompts on the current image. Fast: runs on every click."""
        ...

    def get_embedding(self) -> ImageEmbedding:
        """The current image's state, to cache and restore later. Raises ``NoImageError`` without one."""
        ...

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        """Restore a state from ``get_embedding`` without re-encoding. Raises ``EmbeddingError`` if foreign."""
        ...


EncodeSteps = Generator[None, None, ImageEmbedding]
"""An image encoding in small steps: yields between steps; its return value is the finished embedding."""


@runtime_checkable
class SteppedEncoder(Protocol):
    """An engine whose encoding can be interrupted between small steps (a transformer block or so), so a worker
    answers a click between two steps and resumes the encoding afterwards (prefetch, ADR 0006)."""

    def encode_steps(self, image: np.ndarray) -> EncodeSteps:
        """Encode ``image`` (``H x W x 3`` uint8 RGB) step by step without touching the engine's current image;
        the same numbers as ``set_image`` + ``get_embedding``. Raises ``ImageError`` on a bad array."""
        ...
