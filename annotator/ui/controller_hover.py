"""Hover preview: the mask under the resting pointer (a part of the Qt adapter, over the session's public API).

Every pointer move restarts a short timer (``HOVER_DELAY_MS``) and drops the preview asked for or shown for
another pixel; when the timer fires, one low-priority decode goes to the segment worker (it never delays a
click: the worker's mailbox hands any click out first and drops the queued preview). The answer is shown only
while the image, the prompts and the pointer's pixel are those it was asked for (``annotator.core.hover``).
Nothing here waits. An engine whose decode takes longer than ``budget_s`` (it would stall the pointer while it
holds the GIL, see ``HOVER_BUDGET_S``) pauses the preview until a decode is fast again; the status bar says so
once.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from annotator.core.hover import (
    HOVER_BUDGET_S,
    HOVER_DELAY_MS,
    HoverKey,
    hover_affordable,
    hover_key,
    hover_prompt,
)
from annotator.core.session import Session
from annotator.ui.overlay import color_table
from annotator.workers.requests import DecodeResult
from annotator.workers.segment_client import SegmentClient

HOVER_ALPHA = 100


class HoverPreview(QObject):
    """The hover preview of a session; ``enabled`` switches it (View menu).

    Signals: changed(): ``labels()`` changed; status(str): the preview was paused (said once).
    """

    changed = Signal()
    status = Signal(str)

    def __init__(self, session: Session, client: SegmentClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.client = client
        self.enabled = True
        self.budget_s: float | None = HOVER_BUDGET_S
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(HOVER_DELAY_MS)
        self.timer.timeout.connect(self._send)
        self._wanted: HoverKey | None = None  # the pointer's pixel, waiting for the timer or the answer
        self._point: tuple[float, float] = (0.0, 0.0)
        self._sent: HoverKey | None = None
        self._shown: HoverKey | None = None
        self._labels: np.ndarray | None = None
        self.requests = 0  # previews sent to the worker (tests, benchmarks)
        self.last_decode_s: float | None = None  # the engine's last decode (click or preview)
        self._paused_said = False
        client.hover_decoded.connect(self._on_decoded)
        client.engine_ready.connect(self._forget_decode_time)

    # --- pointer ----------------------------------------------------------------------------------------
    def at(self, x: float, y: float) -> None:
        """The pointer is over image coordinates ``(x, y)`` (prompt tool, no button pressed)."""
        s = self.session
        if not self.enabled or s.current_key is None or s.current_image is None:
            return
        h, w = s.current_image.rgb.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            self.left()
            return
        key = hover_key(s.current_key, s.prompt_state, x, y)
        if key == self._wanted:
            return  # still on the same pixel
        self._drop()
        self._wanted = key
        self._point = (x, y)
        self.timer.start()

    def left(self) -> None:
        """The pointer left the image, a button was pressed, or the prompts or image changed."""
        self._drop()
        self._wanted = None

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        if not enabled:
            self.left()

    def labels(self) -> np.ndarray | None:
        """``H x W`` uint8 (0/1) of the preview shown, or ``None``."""
        return self._labels

    def table(self) -> list[int]:
        category = self.session.current_category()
        color = category.color if category is not None else (255, 255, 255)
        return color_table([color], alpha=HOVER_ALPHA)

    # --- requests and answers ---------------------------------------------------------------------------
    def _drop(self) -> None:
        self.timer.stop()
        if self._sent is not None:
            self.client.cancel_hover()
            self._sent = None
        if self._shown is not None or self._labels is not None:
            self._shown = None
            self._labels = None
            self.changed.emit()

    def note_decode_time(self, result: DecodeResult) -> None:
        """Any decode answer (click or preview) tells how fast the engine is."""
        self.last_decode_s = result.decode_seconds
        if hover_affordable(self.last_decode_s, self.budget_s):
            self._paused_said = False

    def _forget_decode_time(self, _info: object = None) -> None:
        self.last_decode_s = None
        self._paused_said = False

    def paused(self) -> bool:
        """Whether previews are paused because the engine decodes too slowly for the pointer to stay smooth."""
        return not hover_affordable(self.last_decode_s, self.budget_s)

    def _allowed(self, x: float, y: float) -> bool:
        """A preview only where a click would add a prompt point that the worker can decode now."""
        if not self.client.image_ready or self.client.pending_decode:
            return False
        if self.paused():
            if not self._paused_said and self.last_decode_s is not None and self.budget_s is not None:
                self._paused_said = True
                self.status.emit(
                    f"Hover preview paused: this engine takes {self.last_decode_s * 1000:.0f} ms per mask "
                    f"(budget {self.budget_s * 1000:.0f} ms)"
                )
            return False
        s = self.session
        if s.selected_id is not None and s.prompt_state.is_empty:
            return False  # the click would refine the selected object from its mask
        return s.objects.click_selects(x, y, 1) is None

    def _send(self) -> None:
        key = self._wanted
        s = self.session
        if key is None or s.current_key is None:
            return
        x, y = self._point
        if key != hover_key(s.current_key, s.prompt_state, x, y) or not self._allowed(x, y):
            return
        prompt = hover_prompt(s.prompt_state, x, y)
        number = self.client.hover(
            prompt.points, prompt.labels, prompt.box, prompt.mask_input, prompt.multimask
        )
        if number >= 0:
            self._sent = key
            self.requests += 1

    def _on_decoded(self, result: DecodeResult) -> None:
        key = self._sent
        self._sent = None
        self.note_decode_time(result)
        s = self.session
        if key is None or key != self._wanted or s.current_key != key.image_key:
            return
        if key.prompts != (s.prompt_state.points, s.prompt_state.box):
            return
        self._shown = key
        self._labels = result.masks[result.best_index].view(np.uint8)
        self.changed.emit()
