"""The prompt state of the object being segmented: an immutable value plus a small evented holder.

The UI never mutates a prompt: it builds a new :class:`PromptState` (``state.with_point(...)``) and pushes a
:class:`~annotator.core.undo.SetPromptCommand`, so every click, box and candidate choice is undoable.
Coordinates are pixels of the displayed image (``x`` = column, ``y`` = row), as in the segmenter protocol.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from annotator.core.errors import ModelError
from annotator.core.events import Event, EventEmitter


@dataclass(frozen=True)
class PromptPoint:
    """A click: ``(x, y)`` in pixels, ``label`` 1 = positive (foreground), 0 = negative (background)."""

    x: float
    y: float
    label: int

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise ModelError(f"a point label must be 0 or 1, got {self.label!r}")


@dataclass(frozen=True)
class PromptState:
    """Prompts of one object.

    Attributes:
        points: clicks in order.
        box: ``(x0, y0, x1, y1)`` in pixels, or ``None``.
        candidate_index: which of the ``C`` predicted masks the user chose (0 with single-mask output).
        logits: the chosen candidate's previous low-res logits (``1 x 256 x 256`` float32, fed back as
            ``mask_input``), or ``None``. Treated as read-only; not part of equality.
    """

    points: tuple[PromptPoint, ...] = ()
    box: tuple[float, float, float, float] | None = None
    candidate_index: int = 0
    logits: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def is_empty(self) -> bool:
        """True without points and box (nothing to predict)."""
        return not self.points and self.box is None

    def with_point(self, x: float, y: float, label: int) -> PromptState:
        return dataclasses.replace(self, points=(*self.points, PromptPoint(float(x), float(y), int(label))))

    def with_box(self, box: tuple[float, float, float, float] | None) -> PromptState:
        if box is not None:
            x0, y0, x1, y1 = (float(v) for v in box)
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        return dataclasses.replace(self, box=box)

    def with_candidate(self, index: int) -> PromptState:
        if index < 0:
            raise ModelError(f"candidate index must be >= 0, got {index}")
        return dataclasses.replace(self, candidate_index=int(index))

    def with_logits(self, logits: np.ndarray | None) -> PromptState:
        return dataclasses.replace(self, logits=logits)

    def point_coords(self) -> np.ndarray | None:
        """``N x 2`` float32 ``(x, y)``, or ``None`` without points (the segmenter's ``point_coords``)."""
        if not self.points:
            return None
        return np.array([(p.x, p.y) for p in self.points], dtype=np.float32)

    def point_labels(self) -> np.ndarray | None:
        """``N`` int32 labels, or ``None`` without points."""
        if not self.points:
            return None
        return np.array([p.label for p in self.points], dtype=np.int32)

    def box_array(self) -> np.ndarray | None:
        """``4`` float32 ``(x0, y0, x1, y1)``, or ``None``."""
        return None if self.box is None else np.array(self.box, dtype=np.float32)


class PromptSession:
    """Holds the current image key and :class:`PromptState`; emits ``prompt_changed`` on ``events``.

    The UI subscribes, and on each ``prompt_changed`` sends a prediction request built from ``state`` (or
    clears the preview when ``state.is_empty``). Changes normally arrive through undo commands; ``set`` is for
    changes that must not be undoable (e.g. storing the logits that came back with a prediction).
    """

    def __init__(self, image_key: str | None = None) -> None:
        self.events = EventEmitter()
        self.image_key = image_key
        self.state = PromptState()
        self._parked: dict[str, PromptState] = {}  # unaccepted prompts of images left for another one

    def switch_image(self, image_key: str | None) -> PromptState:
        """Leave the current image for ``image_key`` with an empty prompt (not undoable).

        A non-empty prompt of the image left is parked (not lost); the returned state is the one parked for
        ``image_key`` (empty if none), which the caller restores once that image is ready.
        """
        if self.image_key is not None and not self.state.is_empty:
            self._parked[self.image_key] = self.state
        parked = self._parked.pop(image_key, PromptState()) if image_key is not None else PromptState()
        self.start_image(image_key)
        return parked

    def parked_keys(self) -> list[str]:
        """Images left with an unaccepted prompt."""
        return list(self._parked)

    def drop_parked(self) -> None:
        """Forget every parked prompt (the user chose to discard them)."""
        self._parked.clear()

    def set(self, state: PromptState) -> None:
        """Replace the state (not undoable)."""
        self.restore(self.image_key, state)

    def restore(self, image_key: str | None, state: PromptState) -> None:
        """Set image and state together (used by undo: the event's ``image_key`` tells the UI where it is)."""
        self.image_key = image_key
        self.state = state
        self.events.emit(Event("prompt_changed", self, image_key=image_key))

    def start_image(self, image_key: str | None) -> None:
        """Switch to another image with an empty prompt (not undoable)."""
        self.restore(image_key, PromptState())
