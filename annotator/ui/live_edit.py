"""Undo commands owned by the UI layer for state that is not part of the project: the live (unaccepted) mask."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from annotator.core.undo import UndoCommand


class LiveMaskCommand(UndoCommand):
    """A change of the live-mask override (a brush/eraser stroke, or dropping it on accept or Esc).

    ``None`` stands for the model's mask. ``apply(mask, image_key)`` ignores a key other than the current image.
    """

    def __init__(
        self,
        apply: Callable[[np.ndarray | None, str], None],
        before: np.ndarray | None,
        after: np.ndarray | None,
        image_key: str,
        text: str = "Paint live mask",
    ) -> None:
        self._apply, self.before, self.after, self.image_key, self.text = (
            apply,
            before,
            after,
            image_key,
            text,
        )

    def redo(self) -> None:
        self._apply(self.after, self.image_key)

    def undo(self) -> None:
        self._apply(self.before, self.image_key)
