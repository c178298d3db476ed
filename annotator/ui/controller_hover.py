"""Hover preview, Qt side: the debounce timer over the session's :class:`~annotator.core.session_hover.HoverTracker`.

Every pointer move the tracker takes as a new pixel restarts a short timer (``HOVER_DELAY_MS``); when it fires,
the tracker asks for the preview. The rules (what is asked, when an answer is stale, when previews pause) are the
tracker's and ``annotator.core.hover``'s.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from annotator.core.hover import HOVER_DELAY_MS
from annotator.core.session import Session
from annotator.ui.hover_layer import preview_table
from annotator.workers.mask_preview import MaskPreview
from annotator.workers.requests import DecodeResult
from annotator.workers.segment_client import SegmentClient


class HoverPreview(QObject):
    """The hover preview of a session as the window sees it. Signal: changed(): ``labels()`` changed."""

    changed = Signal()

    def __init__(self, session: Session, client: SegmentClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tracker = session.hover
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(HOVER_DELAY_MS)
        self.timer.timeout.connect(self.tracker.due)
        self._answer: DecodeResult | None = None  # the last preview answer (its preview image)
        client.hover_decoded.connect(self._answered)

    def _answered(self, answer: DecodeResult) -> None:
        self._answer = answer
        self.tracker.answered(answer)

    def at(self, x: float, y: float) -> None:
        """The pointer is over image coordinates ``(x, y)`` (prompt tool, no button pressed)."""
        if self.tracker.moved(x, y):
            self.timer.start()
        elif not self.tracker.waiting:
            self.timer.stop()

    def left(self) -> None:
        """The pointer left the image or a button was pressed."""
        self.timer.stop()
        self.tracker.left()

    def set_enabled(self, enabled: bool) -> None:
        if not enabled:
            self.timer.stop()
        self.tracker.set_enabled(enabled)

    def labels(self) -> np.ndarray | None:
        """``h x w`` uint8 (0/1) of the preview shown (at the view's resolution when asked), or ``None``."""
        return self.tracker.labels()

    def covers(self, x: float, y: float) -> bool:
        """Whether the preview shown covers image coordinates ``(x, y)``."""
        return self.tracker.covers(x, y)

    def preview(self) -> MaskPreview | None:
        """The preview shown, with its edge (``None``: none shown)."""
        labels, answer = self.labels(), self._answer
        if labels is None or answer is None or answer.preview is None:
            return None
        return answer.preview if np.may_share_memory(labels, answer.masks) else None

    def table(self) -> list[int]:
        """The preview's colours: the current category's."""
        category = self.session.current_category()
        return preview_table(category.color if category is not None else (255, 255, 255))

    def paused(self) -> bool:
        return self.tracker.paused()

    @property
    def enabled(self) -> bool:
        return self.tracker.enabled

    @property
    def budget_s(self) -> float | None:
        """The slowest decode (seconds) that keeps previews on (``None``: no limit)."""
        return self.tracker.budget_s

    @budget_s.setter
    def budget_s(self, seconds: float | None) -> None:
        self.tracker.budget_s = seconds

    @property
    def requests(self) -> int:
        return self.tracker.requests

    @property
    def last_decode_s(self) -> float | None:
        return self.tracker.last_decode_s
