"""Undo commands owned by the UI layer for state that is not part of the project: the live (unaccepted) mask."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from annotator.core.undo import UndoCommand


class LiveMaskCommand(UndoCommand):
    """A brush/eraser stroke on the live mask: swaps the live-mask override (``None`` = the model's mask)."""

    def __init__(
        self,
        apply: Callable[[np.ndarray | None], None],
        before: np.ndarray | None,
        after: np.ndarray,
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
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)
