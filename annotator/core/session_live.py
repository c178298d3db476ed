"""The interactive loop of the session: prompts -> decode requests -> answers -> the live mask (Qt-free).

:class:`LiveLoop` is owned by :class:`~annotator.core.session.Session`; it owns the prompts of the object being
drawn (a :class:`~annotator.core.prompts.PromptSession`), the request in flight and its number, the answer
shown, the hand-painted override and the refinement seed, and the unaccepted masks parked on images the user
left. Its rules:

* Prompts change (through undoable commands) -> :meth:`LiveLoop.prompts_changed`: empty prompts cancel the
  request in flight and clear the live mask; prompts equal to those of the shown answer show it again
  (undo/redo: no decode); otherwise one decode is requested, numbered by the decoder.
* An answer (:meth:`LiveLoop.decoded`) is used only if it answers the newest request, for the current image;
  anything else (out of order, late, for another image, after the prompts were cleared) is dropped.
* A hand-painted override belongs to the prompts it was painted on: an answer for other prompts replaces it,
  one for the same prompts keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from annotator.core.events import Event
from annotator.core.prompts import PromptPoint, PromptSession, PromptState
from annotator.core.session_events import CandidateView, SessionChange, SessionEvent
from annotator.core.session_ports import DecodeAnswer, Decoder
from annotator.core.undo import MacroCommand, UndoCommand

PromptKey = tuple[tuple[PromptPoint, ...], tuple[float, float, float, float] | None]
"""What makes two prompts the same request: the points and the box (not the candidate or the logits)."""


def prompt_key(state: PromptState) -> PromptKey:
    return (state.points, state.box)


@dataclass(frozen=True)
class ParkedLive:
    """The unaccepted live mask of an image the user left: the answer shown, its prompts' key, the override
    (``H x W`` bool) and the prompts it was painted on."""

    answer: DecodeAnswer | None
    answer_key: PromptKey | None
    override: np.ndarray | None
    override_key: PromptKey | None


class LiveMaskCommand(UndoCommand):
    """A change of the live-mask override (a brush/eraser stroke, or dropping it on accept or Esc).

    ``None`` stands for the model's mask. ``apply(mask, image_key)`` ignores a key other than the current image.
    """

    image_key: str

    def __init__(
        self,
        apply: Callable[[np.ndarray | None, str | None], None],
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


class LiveLoop:
    """Prompts, the decode in flight, the answer shown and the live mask of the current image.

    ``emit`` receives the session's events; ``seed_for_request()`` gives the mask of the object being refined
    (``H x W`` bool) or ``None``, asked for when a request has no logits yet.
    """

    def __init__(
        self,
        decoder: Decoder,
        emit: Callable[[SessionEvent], None],
        seed_for_request: Callable[[], np.ndarray | None],
    ) -> None:
        self.decoder = decoder
        self.prompts = PromptSession()
        self.decode_requests = 0  # decodes asked for the user (tests, benchmarks)
        self.image_key: str | None = None
        self._emit = emit
        self._seed_for_request = seed_for_request
        self.answer: DecodeAnswer | None = None  # shown, for the prompts ``answer_key``
        self.answer_key: PromptKey | None = None
        self.requested_key: PromptKey | None = None  # the prompts of the decode in flight
        self.awaiting: int | None = None  # its request number
        self.override: np.ndarray | None = None  # hand-painted live mask (H x W bool)
        self.override_key: PromptKey | None = None
        self.refine_seed: np.ndarray | None = None  # review: the proposal the first click refines
        self._labels: np.ndarray | None = None  # H x W uint8 view of the candidate shown
        self._parked: dict[str, ParkedLive] = {}
        self._unpark: tuple[str, PromptState] | None = None
        self.prompts.events.connect(self._on_prompt_event)

    def _on_prompt_event(self, event: Event) -> None:
        if event.image_key != self.image_key:
            # An undo restored prompts of another image: that object is gone; start clean here.
            self.prompts.start_image(self.image_key)
            return
        self.prompts_changed(self.prompts.state)

    # --- what is shown ------------------------------------------------------------------------------------
    @property
    def state(self) -> PromptState:
        return self.prompts.state

    def live_labels(self) -> np.ndarray | None:
        """``H x W`` uint8 (0/1) of the live mask: the override, else the candidate shown (do not edit)."""
        return self.override.view(np.uint8) if self.override is not None else self._labels

    def has_live(self) -> bool:
        """Whether there are prompts or a hand-painted mask not yet accepted."""
        return not self.prompts.state.is_empty or self.override is not None

    def score(self) -> float | None:
        """The predicted IoU of the candidate shown, ``None`` without an answer."""
        if self.answer is None:
            return None
        return float(self.answer.scores[self.prompts.state.candidate_index])

    # --- prompts -> requests ------------------------------------------------------------------------------
    def prompts_changed(self, state: PromptState) -> None:
        """The prompts of the current image are now ``state``: request, re-show or clear (module rules)."""
        self._emit(SessionEvent(SessionChange.PROMPTS))
        if state.is_empty:
            self.cancel()
            self.clear()
            return
        key = prompt_key(state)
        if self.answer is not None and key == self.answer_key:
            if self.requested_key is not None and self.requested_key != key:
                # Undo went back to the shown answer: the decode still in flight is stale.
                self.cancel()
            self._show_candidate(state.candidate_index)
            return
        if key == self.requested_key:
            return
        self._request(state)

    def _request(self, state: PromptState) -> None:
        mask_input = state.logits
        seed = None if mask_input is not None else self.refine_seed
        if mask_input is None and seed is None:
            seed = self._seed_for_request()
        multimask = len(state.points) == 1 and state.box is None and mask_input is None and seed is None
        self.requested_key = prompt_key(state)
        self.decode_requests += 1
        self.awaiting = self.decoder.decode(
            state.point_coords(), state.point_labels(), state.box_array(), mask_input, multimask, seed
        )
        if not self.decoder.image_ready:
            self._status("Encoding image… (prompt queued)")

    def cancel(self) -> None:
        """Forget the decode in flight (its answer will be dropped)."""
        self.decoder.cancel_decodes()
        self.requested_key = None
        self.awaiting = None

    # --- answers ------------------------------------------------------------------------------------------
    def decoded(self, answer: DecodeAnswer) -> bool:
        """An answer arrived: show it if it answers the newest request for the current image (returns whether
        it was used). The logits of the best candidate join the prompts (not undoable, ADR 0002)."""
        if answer.image_id != self.image_key or self.awaiting is None or answer.request_no != self.awaiting:
            return False
        self.awaiting = None
        self.answer, self.answer_key = answer, self.requested_key
        if self.override is not None and self.answer_key != self.override_key:
            self.override = None  # new prompts since the painting: the model's answer replaces it
        best = answer.best_index
        self._status(f"Decoded in {answer.decode_seconds * 1000:.0f} ms")
        state = self.prompts.state
        if prompt_key(state) != self.answer_key:
            return True
        self.prompts.set(state.with_candidate(best).with_logits(answer.low_res_logits[best : best + 1]))
        return True

    def decode_failed(self, message: str) -> None:
        self.requested_key = None
        self.awaiting = None
        self._status(message)
        self._emit(SessionEvent(SessionChange.MESSAGE, title="Segmentation failed", text=message))

    def next_candidate_state(self) -> PromptState | None:
        """Tab: the prompts showing the next candidate (its logits become the next ``mask_input``), or
        ``None`` when there is no choice (the status bar says why)."""
        answer = self.answer
        if answer is None:
            return None
        if len(answer.scores) < 2:
            self._status("Only one candidate for this prompt: candidates are offered after a single click")
            return None
        index = (self.prompts.state.candidate_index + 1) % len(answer.scores)
        return self.prompts.state.with_candidate(index).with_logits(answer.low_res_logits[index : index + 1])

    def _show_candidate(self, index: int) -> None:
        answer = self.answer
        if answer is None:
            return
        index = min(max(index, 0), len(answer.scores) - 1)
        self._labels = answer.masks[index].view(np.uint8)
        self._emit(SessionEvent(SessionChange.LIVE))
        view = CandidateView(index, len(answer.scores), float(answer.scores[index]))
        self._emit(SessionEvent(SessionChange.CANDIDATE, candidate=view if view.count > 1 else None))

    def clear(self) -> None:
        """Drop the answer, the override and the refinement seed (the prompts are left as they are)."""
        self.answer = self.answer_key = None
        self.override = self.override_key = None
        self.refine_seed = None
        self._labels = None
        self._emit(SessionEvent(SessionChange.LIVE))
        self._emit(SessionEvent(SessionChange.CANDIDATE, candidate=None))

    # --- hand-painted override ----------------------------------------------------------------------------
    def set_override(self, mask: np.ndarray | None, image_key: str | None = None) -> None:
        """A hand-edited live mask (``None`` = the decoded candidate), for the current prompts; an
        ``image_key`` other than the current image (an undo after switching images) is ignored."""
        if image_key is not None and image_key != self.image_key:
            return
        self.override = mask
        self.override_key = None if mask is None else prompt_key(self.prompts.state)
        self._emit(SessionEvent(SessionChange.LIVE))

    def with_override_cleared(self, text: str, command: UndoCommand) -> UndoCommand:
        """``command``, preceded by dropping the override as part of the same undo step."""
        if self.override is None or self.image_key is None:
            return command
        drop = LiveMaskCommand(self.set_override, self.override, None, self.image_key, text)
        return MacroCommand(text, [drop, command])

    # --- leaving an image with an unaccepted mask ---------------------------------------------------------
    def switch_image(self, key: str) -> None:
        """Park the live mask of the image being left, clear it, and plan restoring ``key``'s parked one."""
        old = self.image_key
        if old is not None and self.has_live():
            self._parked[old] = ParkedLive(self.answer, self.answer_key, self.override, self.override_key)
        self.image_key = key
        self.clear()
        state = self.prompts.switch_image(key)  # its prompt event cancels the decode in flight
        self._unpark = (key, state) if key in self._parked or not state.is_empty else None

    def restore_parked(self, key: str) -> None:
        """``key`` is shown again: bring back its parked prompts and live mask as they were."""
        if self._unpark is None or self._unpark[0] != key:
            return
        state = self._unpark[1]
        self._unpark = None
        parked = self._parked.pop(key, ParkedLive(None, None, None, None))
        self.answer, self.answer_key = parked.answer, parked.answer_key
        if not state.is_empty:
            self.prompts.restore(key, state)  # same prompts as the parked answer: shown without a decode
        if parked.override is not None:
            self.override, self.override_key = parked.override, parked.override_key
            self._emit(SessionEvent(SessionChange.LIVE))
        self._status(f"Unaccepted mask of {key} restored (Enter accepts, Esc drops it)")

    def unaccepted_images(self) -> list[str]:
        """Images with an unaccepted live mask or prompt: the current one first, then the parked ones."""
        keys = [self.image_key] if self.image_key is not None and self.has_live() else []
        parked = dict.fromkeys([*self.prompts.parked_keys(), *self._parked])
        return keys + [k for k in parked if k not in keys]

    def discard_unaccepted(self) -> None:
        """Forget every unaccepted live mask and prompt (the user chose to discard them)."""
        self.prompts.drop_parked()
        self._parked.clear()
        self._unpark = None
        if self.has_live():
            self.prompts.set(PromptState())
            self.clear()

    def _status(self, text: str) -> None:
        self._emit(SessionEvent(SessionChange.STATUS, text=text))
