"""What the interactive session needs from the outside world, as protocols (no Qt, no threads, no torch).

The app plugs in the segment worker's client (:class:`Decoder`) and the image loader (:class:`ImageSource`);
the tests plug in fakes that answer when, and in the order, the test says. Answers come back through explicit
calls on the session (``Session.image_shown``, ``Session.decoded``...), never through callbacks the session
registers on these objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from annotator.core.engine_choice import EngineRequest


class ShownImage(Protocol):
    """A decoded image: ``key`` (its file name in the folder) and ``rgb`` (``H x W x 3`` uint8, read-only)."""

    @property
    def key(self) -> str: ...

    @property
    def rgb(self) -> np.ndarray: ...


class DecodeAnswer(Protocol):
    """A decoder's answer: ``C`` candidates for the prompts of request ``request_no`` on ``image_id``.

    ``masks``: ``C x H x W`` bool; ``scores``: ``C`` float32 predicted IoU; ``low_res_logits``:
    ``C x 256 x 256`` float32; ``decode_seconds``: time spent decoding; ``best_index``: the highest score.
    """

    @property
    def image_id(self) -> str: ...

    @property
    def request_no(self) -> int: ...

    @property
    def masks(self) -> np.ndarray: ...

    @property
    def scores(self) -> np.ndarray: ...

    @property
    def low_res_logits(self) -> np.ndarray: ...

    @property
    def decode_seconds(self) -> float: ...

    @property
    def best_index(self) -> int: ...


class EngineIdentity(Protocol):
    """The engine in use: ``checkpoint`` ``None`` is the classical engine."""

    @property
    def model_id(self) -> str: ...

    @property
    def checkpoint(self) -> str | None: ...

    @property
    def device(self) -> str: ...

    @property
    def dtype(self) -> str: ...


class Decoder(Protocol):
    """The segmentation engine as the session sees it (the app's ``SegmentClient``).

    ``decode`` returns the request number that the answer will carry; the session shows only the answer to its
    newest request for its current image.
    """

    @property
    def image_ready(self) -> bool:
        """Whether the current image is encoded (a decode is answered without waiting for the encoder)."""
        ...

    @property
    def pending_decode(self) -> bool:
        """Whether a click's decode waits for its answer."""
        ...

    @property
    def engine(self) -> EngineIdentity | None: ...

    def load_engine(self, request: EngineRequest) -> None:
        """Replace the engine (in the background); the current image is encoded again."""
        ...

    def set_image(self, image_id: str, rgb: np.ndarray) -> None:
        """Make ``image_id`` (``H x W x 3`` uint8) the image to decode on; encoding starts."""
        ...

    def clear_image(self) -> None:
        """No current image: every answer still on its way is dropped."""
        ...

    def decode(
        self,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
        seed_mask: np.ndarray | None = None,
    ) -> int:
        """Ask for masks of the current image (``points`` ``N x 2`` float32 pixels ``(x, y)``, ``labels`` ``N``
        int32, ``box`` ``4`` float32, ``mask_input`` ``1 x 256 x 256`` float32 logits, ``seed_mask`` ``H x W``
        bool); returns the request number."""
        ...

    def cancel_decodes(self) -> None:
        """Forget any answer still on its way."""
        ...

    def hover(
        self,
        points: np.ndarray,
        labels: np.ndarray,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
    ) -> int:
        """Ask for a hover preview (lowest priority); returns its number, or -1 when it cannot be asked now."""
        ...

    def cancel_hover(self) -> None:
        """Drop the queued preview and ignore the one being decoded."""
        ...


class ImageSource(Protocol):
    """Decodes image files in the background; the answer comes back as ``Session.image_shown`` or
    ``Session.image_failed``."""

    def load(self, key: str, path: Path) -> None: ...
