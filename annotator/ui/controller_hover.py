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
from annotator.ui.overlay import color_table
from annotator.workers.mask_outline import MaskOutline, outline_for
from annotator.workers.requests import DecodeResult
from annotator.workers.segment_client import SegmentClient

HOVER_ALPHA = 100


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
        self._answer: DecodeResult | None = None  # the last preview answer (its outlines)
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
        """``H x W`` uint8 (0/1) of the preview shown, or ``None``."""
        return self.tracker.labels()

    def outline(self) -> MaskOutline | None:
        """The outline of ``labels()`` as the worker traced it (``None``: none shown, or not traced)."""
        answer = self._answer
        if answer is None:
            return None
        return outline_for(self.labels(), answer.masks, answer.outlines)

    def table(self) -> list[int]:
        category = self.session.current_category()
        color = category.color if category is not None else (255, 255, 255)
        return color_table([color], alpha=HOVER_ALPHA)

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
