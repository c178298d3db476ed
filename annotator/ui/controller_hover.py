"""Hover preview of :class:`~annotator.ui.controller.SessionController`: the mask under the resting pointer.

Every pointer move restarts a short timer (``HOVER_DELAY_MS``) and drops the preview asked for or shown for
another pixel; when the timer fires, one low-priority decode goes to the segment worker (it never delays a
click: the worker's mailbox hands any click out first and drops the queued preview). The answer is shown only
while the image, the prompts and the pointer's pixel are those it was asked for (``annotator.core.hover``).
Nothing here waits. An engine whose decode takes longer than ``hover_budget_s`` (it would stall the pointer
while it holds the GIL, see ``HOVER_BUDGET_S``) pauses the preview until a decode is fast again; the status bar
says so once.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer

from annotator.core.hover import (
    HOVER_BUDGET_S,
    HOVER_DELAY_MS,
    HoverKey,
    hover_affordable,
    hover_key,
    hover_prompt,
)
from annotator.ui.controller_base import SessionPart
from annotator.ui.overlay import color_table
from annotator.workers.requests import DecodeResult

HOVER_ALPHA = 100


class HoverMixin(SessionPart):
    """The hover preview (a part of ``SessionController``); ``hover_enabled`` switches it (View menu)."""

    hover_enabled: bool = True
    hover_budget_s: float | None = HOVER_BUDGET_S

    def _init_hover(self) -> None:
        self._hover_timer = QTimer(self)  # type: ignore[arg-type]
        self._hover_timer.setSingleShot(True)
        self._hover_timer.setInterval(HOVER_DELAY_MS)
        self._hover_timer.timeout.connect(self._send_hover)
        self._hover_wanted: HoverKey | None = None  # the pointer's pixel, waiting for the timer or the answer
        self._hover_point: tuple[float, float] = (0.0, 0.0)
        self._hover_sent: HoverKey | None = None
        self._hover_shown: HoverKey | None = None
        self._hover_labels: np.ndarray | None = None
        self.hover_requests = 0  # previews sent to the worker (tests, benchmarks)
        self.last_decode_s: float | None = None  # the engine's last decode (click or preview)
        self._hover_paused_said = False
        self.client.hover_decoded.connect(self._on_hover_decoded)
        self.client.decoded.connect(self._note_decode_time)
        self.client.engine_ready.connect(self._forget_decode_time)
        self.prompts_changed.connect(self.hover_left)
        self.current_image_changed.connect(lambda _key: self.hover_left())

    # --- pointer ----------------------------------------------------------------------------------------
    def hover_at(self, x: float, y: float) -> None:
        """The pointer is over image coordinates ``(x, y)`` (prompt tool, no button pressed)."""
        if not self.hover_enabled or self.current_key is None or self.current_image is None:
            return
        h, w = self.current_image.rgb.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            self.hover_left()
            return
        key = hover_key(self.current_key, self.prompts.state, x, y)
        if key == self._hover_wanted:
            return  # still on the same pixel
        self._drop_hover()
        self._hover_wanted = key
        self._hover_point = (x, y)
        self._hover_timer.start()

    def hover_left(self) -> None:
        """The pointer left the image, a button was pressed, or the prompts or image changed."""
        self._drop_hover()
        self._hover_wanted = None

    def set_hover_enabled(self, enabled: bool) -> None:
        self.hover_enabled = bool(enabled)
        if not enabled:
            self.hover_left()

    def hover_labels(self) -> np.ndarray | None:
        """``H x W`` uint8 (0/1) of the preview shown, or ``None``."""
        return self._hover_labels

    def hover_table(self) -> list[int]:
        category = self.current_category()
        color = category.color if category is not None else (255, 255, 255)
        return color_table([color], alpha=HOVER_ALPHA)

    # --- requests and answers ---------------------------------------------------------------------------
    def _drop_hover(self) -> None:
        self._hover_timer.stop()
        if self._hover_sent is not None:
            self.client.cancel_hover()
            self._hover_sent = None
        if self._hover_shown is not None or self._hover_labels is not None:
            self._hover_shown = None
            self._hover_labels = None
            self.hover_changed.emit()

    def _note_decode_time(self, result: DecodeResult) -> None:
        self.last_decode_s = result.decode_seconds
        if hover_affordable(self.last_decode_s, self.hover_budget_s):
            self._hover_paused_said = False

    def _forget_decode_time(self, _info: object = None) -> None:
        self.last_decode_s = None
        self._hover_paused_said = False

    def hover_paused(self) -> bool:
        """Whether previews are paused because the engine decodes too slowly for the pointer to stay smooth."""
        return not hover_affordable(self.last_decode_s, self.hover_budget_s)

    def _hover_allowed(self, x: float, y: float) -> bool:
        """A preview only where a click would add a prompt point that the worker can decode now."""
        if not self.client.image_ready or self.client.pending_decode:
            return False
        if self.hover_paused():
            if not self._hover_paused_said and self.last_decode_s is not None:
                self._hover_paused_said = True
                self.status.emit(
                    f"Hover preview paused: this engine takes {self.last_decode_s * 1000:.0f} ms per mask "
                    f"(budget {self.hover_budget_s * 1000:.0f} ms)"  # type: ignore[operator]
                )
            return False
        if self.selected_id is not None and self.prompts.state.is_empty:
            return False  # the click would refine the selected object from its mask
        return self.click_selects(x, y, 1) is None

    def _send_hover(self) -> None:
        key = self._hover_wanted
        if key is None or self.current_key is None:
            return
        x, y = self._hover_point
        if key != hover_key(self.current_key, self.prompts.state, x, y) or not self._hover_allowed(x, y):
            return
        prompt = hover_prompt(self.prompts.state, x, y)
        number = self.client.hover(
            prompt.points, prompt.labels, prompt.box, prompt.mask_input, prompt.multimask
        )
        if number >= 0:
            self._hover_sent = key
            self.hover_requests += 1

    def _on_hover_decoded(self, result: DecodeResult) -> None:
        key = self._hover_sent
        self._hover_sent = None
        self._note_decode_time(result)
        if key is None or key != self._hover_wanted or self.current_key != key.image_key:
            return
        if key.prompts != (self.prompts.state.points, self.prompts.state.box):
            return
        self._hover_shown = key
        self._hover_labels = result.masks[result.best_index].view(np.uint8)
        self.hover_changed.emit()
