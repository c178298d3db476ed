"""What the parts of :class:`~annotator.ui.controller.SessionController` see of each other.

:class:`SessionPart` is the base of its mixins (``controller_live.py``, ``controller_instances.py``). It
adds nothing at run time: it declares, for type checkers, the state and signals that ``SessionController``
sets up and the methods one part calls on another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PySide6.QtCore import SignalInstance

    from annotator.core.model import Category, Project
    from annotator.core.prompts import PromptSession
    from annotator.core.undo import UndoCommand, UndoStack
    from annotator.workers.image_loader import DecodedImage
    from annotator.workers.requests import DecodeResult
    from annotator.workers.segment_client import SegmentClient


class SessionPart:
    """Base of the ``SessionController`` mixins (declarations only)."""

    if TYPE_CHECKING:
        # SessionController
        project: Project
        client: SegmentClient
        undo_stack: UndoStack
        prompts: PromptSession
        current_key: str | None
        current_image: DecodedImage | None
        selected_id: int | None
        live_changed: SignalInstance
        prompts_changed: SignalInstance
        candidate_changed: SignalInstance
        instances_changed: SignalInstance
        selection_changed: SignalInstance
        status: SignalInstance
        message: SignalInstance
        hover_changed: SignalInstance
        current_image_changed: SignalInstance

        def current_category(self) -> Category | None: ...

        def category_slots(self) -> list[Category]: ...

        # LiveMaskMixin
        _result: DecodeResult | None
        _live_override: np.ndarray | None

        def live_mask(self) -> np.ndarray | None: ...

        def live_labels(self) -> np.ndarray | None: ...

        def add_point(self, x: float, y: float, label: int) -> None: ...

        def _clear_live(self) -> None: ...

        def _with_override_cleared(self, text: str, command: UndoCommand) -> UndoCommand: ...

        # InstanceMixin
        def select_instance(self, instance_id: int | None) -> None: ...

        def click_selects(self, x: float, y: float, label: int) -> int | None: ...
