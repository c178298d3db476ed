"""The hover preview of the session: the mask a positive click would give under the resting pointer (Qt-free).

:class:`HoverTracker` is the ``hover`` part of :class:`~annotator.core.session.Session`. The view calls
:meth:`~HoverTracker.moved` on every pointer move; when it returns ``True`` the view (re)starts its debounce
timer (``HOVER_DELAY_MS``), and when the timer fires it calls :meth:`~HoverTracker.due`, which sends one
low-priority preview decode (any click supersedes it in the worker). The answer (:meth:`~HoverTracker.answered`)
is shown only while the image, the prompts and the pointer's pixel are those it was asked for
(``annotator.core.hover``). Previews are never asked where a click would select an object, while a click waits
for its answer, or while the engine decodes slower than ``budget_s`` (it would stall the pointer; the status
bar says so once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from annotator.core.hover import HOVER_BUDGET_S, HoverKey, hover_affordable, hover_key, hover_prompt
from annotator.core.session_events import SessionChange, SessionEvent
from annotator.core.session_ports import DecodeAnswer

if TYPE_CHECKING:
    from annotator.core.session import Session


class HoverTracker:
    """The preview asked for, sent and shown; ``enabled`` switches it (View menu)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.enabled = True
        self.budget_s: float | None = HOVER_BUDGET_S
        self.requests = 0  # previews sent to the decoder (tests, benchmarks)
        self.last_decode_s: float | None = None  # the engine's last decode (click or preview)
        self._wanted: HoverKey | None = None  # the pointer's pixel, waiting for the timer or the answer
        self._point: tuple[float, float] = (0.0, 0.0)
        self._sent: HoverKey | None = None
        self._shown: HoverKey | None = None
        self._labels: np.ndarray | None = None
        self._paused_said = False

    @property
    def waiting(self) -> bool:
        """Whether a pixel waits for its preview (the debounce timer, or the answer)."""
        return self._wanted is not None

    def labels(self) -> np.ndarray | None:
        """``h x w`` uint8 (0/1) of the preview shown, or ``None``. A preview may be smaller than the image
        (the decoder makes it at the view's resolution): it spans the whole image all the same."""
        return self._labels

    def covers(self, x: float, y: float) -> bool:
        """Whether the preview shown covers image coordinates ``(x, y)`` (``False`` when none is shown)."""
        labels, image = self._labels, self._session.current_image
        if labels is None or image is None:
            return False
        height, width = image.rgb.shape[:2]
        if not (0 <= x < width and 0 <= y < height):
            return False
        h, w = labels.shape
        return bool(labels[min(h - 1, int(y * h / height)), min(w - 1, int(x * w / width))])

    def paused(self) -> bool:
        """Whether previews are paused because the engine decodes too slowly for the pointer to stay smooth."""
        return not hover_affordable(self.last_decode_s, self.budget_s)

    # --- pointer ------------------------------------------------------------------------------------------
    def moved(self, x: float, y: float) -> bool:
        """The pointer is over image coordinates ``(x, y)``; returns whether to (re)start the debounce timer."""
        s = self._session
        if not self.enabled or s.current_key is None or s.current_image is None:
            return False
        h, w = s.current_image.rgb.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            self.left()
            return False
        key = hover_key(s.current_key, s.prompt_state, x, y)
        if key == self._wanted:
            return False  # still on the same pixel
        self._drop()
        self._wanted = key
        self._point = (x, y)
        return True

    def left(self) -> None:
        """The pointer left the image, a button was pressed, or the prompts or the image changed."""
        self._drop()
        self._wanted = None

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        if not enabled:
            self.left()

    # --- requests and answers -----------------------------------------------------------------------------
    def due(self) -> None:
        """The pointer rested (the debounce timer fired): ask for the preview, if one may be asked now."""
        key = self._wanted
        s = self._session
        if key is None or s.current_key is None:
            return
        x, y = self._point
        if key != hover_key(s.current_key, s.prompt_state, x, y) or not self._allowed(x, y):
            return
        prompt = hover_prompt(s.prompt_state, x, y)
        number = s.decoder.hover(
            prompt.points, prompt.labels, prompt.box, prompt.mask_input, prompt.multimask
        )
        if number >= 0:
            self._sent = key
            self.requests += 1

    def answered(self, answer: DecodeAnswer) -> None:
        """A preview answer arrived: shown if it answers the pixel, prompts and image still wanted."""
        key = self._sent
        self._sent = None
        self.note_decode_time(answer.decode_seconds)
        s = self._session
        if key is None or key != self._wanted or s.current_key != key.image_key:
            return
        if key.prompts != (s.prompt_state.points, s.prompt_state.box):
            return
        self._shown = key
        self._labels = answer.masks[answer.best_index].view(np.uint8)
        self._changed()

    def note_decode_time(self, seconds: float) -> None:
        """Any decode answer (click or preview) tells how fast the engine is."""
        self.last_decode_s = seconds
        if hover_affordable(self.last_decode_s, self.budget_s):
            self._paused_said = False

    def engine_changed(self) -> None:
        """A new engine: its speed is not known yet."""
        self.last_decode_s = None
        self._paused_said = False

    def _allowed(self, x: float, y: float) -> bool:
        """A preview only where a click would add a prompt point that the decoder can answer now."""
        s = self._session
        if not s.decoder.image_ready or s.decoder.pending_decode:
            return False
        if self.paused():
            if not self._paused_said and self.last_decode_s is not None and self.budget_s is not None:
                self._paused_said = True
                s.status(
                    f"Hover preview paused: this engine takes {self.last_decode_s * 1000:.0f} ms per mask "
                    f"(budget {self.budget_s * 1000:.0f} ms)"
                )
            return False
        if s.selected_id is not None and s.prompt_state.is_empty:
            return False  # the click would refine the selected object from its mask
        return s.objects.click_selects(x, y, 1) is None

    def _drop(self) -> None:
        if self._sent is not None:
            self._session.decoder.cancel_hover()
            self._sent = None
        if self._shown is not None or self._labels is not None:
            self._shown = None
            self._labels = None
            self._changed()

    def _changed(self) -> None:
        self._session.events.emit(SessionEvent(SessionChange.HOVER))
