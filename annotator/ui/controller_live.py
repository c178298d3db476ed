"""The interactive loop of :class:`~annotator.ui.controller.SessionController`: prompts, decodes, live mask.

:class:`LiveMaskMixin` turns prompt changes into decode requests for the segment worker, shows the answers
as the live mask (one of the candidates, or a hand-painted override), and starts/finishes a review
refinement. :class:`CandidateView` is what the status bar shows about the current candidate. Accepting the
live mask is an instance operation (``controller_instances.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Slot

from annotator.core.events import Event
from annotator.core.prompts import PromptState
from annotator.core.undo import MacroCommand, SetPromptCommand, UndoCommand
from annotator.ui.controller_base import SessionPart
from annotator.ui.live_edit import LiveMaskCommand
from annotator.ui.overlay import FILL_ALPHA, color_table
from annotator.workers.requests import DecodeResult


@dataclass(frozen=True)
class CandidateView:
    """What the status bar says about the shown candidate."""

    index: int
    count: int
    score: float

    def text(self) -> str:
        return f"Candidate {self.index + 1}/{self.count} · predicted IoU {self.score:.2f}"


class LiveMaskMixin(SessionPart):
    """Prompts -> decode requests -> decode answers -> the live mask (a part of ``SessionController``).

    The decode answer shown is ``_result`` (for the prompts ``_result_key``); ``_requested_key`` is the
    prompts of the decode in flight. A hand-painted ``_live_override`` belongs to the prompts it was painted
    on (``_override_key``).
    """

    def _init_live_state(self) -> None:
        self._result: DecodeResult | None = None
        self._result_key: tuple | None = None
        self._requested_key: tuple | None = None
        self._requested_state: PromptState | None = None
        self._live_override: np.ndarray | None = None
        self._override_key: tuple | None = None  # the prompts the override was painted on
        self._refine_seed: np.ndarray | None = (
            None  # review: the proposal (H x W bool) the first click refines
        )
        self._live_labels: np.ndarray | None = None
        self.decode_requests = 0
        # Unaccepted live masks of images the user left: image key -> (answer, its prompts, override, its
        # prompts); the prompts themselves are parked in ``self.prompts`` (PromptSession.switch_image).
        self._parked_live: dict[str, tuple] = {}
        self._unpark: tuple[str, PromptState] | None = None  # restore when this image is shown again

    # --- leaving an image with an unaccepted mask -----------------------------------------------------
    def has_live(self) -> bool:
        """Whether the current image has prompts or a live mask not yet accepted."""
        return not self.prompts.state.is_empty or self._live_override is not None

    def unaccepted_images(self) -> list[str]:
        """Images with an unaccepted live mask or prompt: the current one first, then the parked ones."""
        keys = [self.current_key] if self.current_key is not None and self.has_live() else []
        parked = [*self.prompts.parked_keys(), *self._parked_live]
        return keys + [k for k in dict.fromkeys(parked) if k not in keys]

    def discard_unaccepted(self) -> None:
        """Forget every unaccepted live mask and prompt (the user chose to discard them)."""
        self.prompts.drop_parked()
        self._parked_live.clear()
        self._unpark = None
        if self.has_live():
            self.prompts.set(PromptState())
            self._clear_live()

    def _switch_live(self, old: str | None, key: str) -> None:
        """Park the live mask of the image ``old`` being left (``current_key`` is already ``key``) and clear
        it; plan restoring ``key``'s parked one."""
        if old is not None and self.has_live():
            self._parked_live[old] = (self._result, self._result_key, self._live_override, self._override_key)
        self._clear_live()
        state = self.prompts.switch_image(key)
        parked = self._parked_live.get(key)
        self._unpark = (key, state) if parked is not None or not state.is_empty else None

    def _restore_parked(self, key: str) -> None:
        """The image is shown again: bring back its parked prompts and live mask as they were."""
        if self._unpark is None or self._unpark[0] != key:
            return
        _key, state = self._unpark
        self._unpark = None
        result, result_key, override, override_key = self._parked_live.pop(key, (None, None, None, None))
        self._result, self._result_key = result, result_key
        if not state.is_empty:
            self.prompts.restore(key, state)  # same prompts as the parked answer: shown without a decode
        if override is not None:
            self._live_override, self._override_key = override, override_key
            self.live_changed.emit()
        self.status.emit(f"Unaccepted mask of {key} restored (Enter accepts, Esc drops it)")

    # --- prompts --------------------------------------------------------------------------------------
    @property
    def prompt_state(self) -> PromptState:
        return self.prompts.state

    def add_point(self, x: float, y: float, label: int) -> None:
        """A click on the image: a positive (1) or negative (0) point for the current object."""
        if self.current_key is None or self.current_image is None:
            return
        self._push_prompt(self.prompts.state.with_point(x, y, label), "Add point")

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A dragged box for the current object (replaces a previous box; points are kept)."""
        if self.current_key is None or self.current_image is None:
            return
        h, w = self.current_image.rgb.shape[:2]
        x0, x1 = sorted((min(max(x0, 0.0), w), min(max(x1, 0.0), w)))
        y0, y1 = sorted((min(max(y0, 0.0), h), min(max(y1, 0.0), h)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        self._push_prompt(self.prompts.state.with_box((x0, y0, x1, y1)), "Draw box")

    def clear_prompts(self) -> None:
        """Esc: drop the current object's prompts (undoable); with no prompts, deselect the instance."""
        if not self.prompts.state.is_empty or self._live_override is not None:
            clear = SetPromptCommand(self.prompts, PromptState(), "Clear prompts")
            self.undo_stack.push(self._with_override_cleared("Clear prompts", clear))
            self.live_changed.emit()
        elif self.selected_id is not None:
            self.select_instance(None)

    def cycle_candidate(self) -> None:
        """Tab: show the next of the candidate masks; its logits become the next request's ``mask_input``."""
        result = self._result
        if result is None:
            return
        if len(result.scores) < 2:
            # SAM answers one mask once the prompt is unambiguous (several points, a box or a refinement).
            self.status.emit(
                "Only one candidate for this prompt: candidates are offered after a single click"
            )
            return
        index = (self.prompts.state.candidate_index + 1) % len(result.scores)
        state = self.prompts.state.with_candidate(index).with_logits(result.low_res_logits[index : index + 1])
        self._push_prompt(state, "Choose candidate")

    def _push_prompt(self, state: PromptState, text: str) -> None:
        self.undo_stack.push(SetPromptCommand(self.prompts, state, text))

    @staticmethod
    def _prompt_key(state: PromptState) -> tuple:
        return (state.points, state.box)

    def _on_prompt_event(self, event: Event) -> None:
        if event.type != "prompt_changed":
            return
        if event.image_key != self.current_key:
            # An undo restored prompts of another image: that object is gone; start clean here.
            self.prompts.start_image(self.current_key)
            return
        state = self.prompts.state
        self.prompts_changed.emit()
        if state.is_empty:
            self.client.cancel_decodes()
            self._requested_key = None
            self._clear_live()
            return
        key = self._prompt_key(state)
        if self._result is not None and key == self._result_key:
            if self._requested_key is not None and self._requested_key != key:
                # Undo went back to the shown answer: the decode still in flight is stale; its answer
                # must not replace ``_result`` (candidates, score) of what is on screen.
                self.client.cancel_decodes()
                self._requested_key = None
            self._show_candidate(state.candidate_index)
            return
        if key == self._requested_key:
            return
        self._request(state)

    def _request(self, state: PromptState) -> None:
        mask_input = state.logits
        seed = None if mask_input is not None else self._refine_seed
        refining = self.selected_id is not None and self.current_key is not None
        if mask_input is None and seed is None and refining:
            _key, instance = self.project.find_instance(self.selected_id)  # type: ignore[arg-type]
            seed = instance.mask.array() if instance.box is None else None  # a box's pixels are no shape
        multimask = len(state.points) == 1 and state.box is None and mask_input is None and seed is None
        self._requested_key = self._prompt_key(state)
        self._requested_state = state
        self.decode_requests += 1
        self.client.decode(
            state.point_coords(), state.point_labels(), state.box_array(), mask_input, multimask, seed
        )
        if not self.client.image_ready:
            self.status.emit("Encoding image… (prompt queued)")

    @Slot(object)
    def _on_decoded(self, result: DecodeResult) -> None:
        if result.image_id != self.current_key or self._requested_key is None:
            return
        self._result = result
        self._result_key = self._requested_key
        if self._live_override is not None and self._result_key != self._override_key:
            self._live_override = None  # new prompts since the painting: the model's answer replaces it
        best = result.best_index
        self.status.emit(f"Decoded in {result.decode_seconds * 1000:.0f} ms")
        state = self.prompts.state
        if self._prompt_key(state) != self._result_key:
            return
        # Not undoable: the logits that came back with the answer (ADR 0002 flow).
        self.prompts.set(state.with_candidate(best).with_logits(result.low_res_logits[best : best + 1]))

    @Slot(str)
    def _on_decode_failed(self, message: str) -> None:
        self._requested_key = None
        self.status.emit(message)
        self.message.emit("Segmentation failed", message)

    def _show_candidate(self, index: int) -> None:
        result = self._result
        if result is None:
            return
        index = min(max(index, 0), len(result.scores) - 1)
        self._live_labels = result.masks[index].view(np.uint8)
        self.live_changed.emit()
        view = CandidateView(index, len(result.scores), float(result.scores[index]))
        self.candidate_changed.emit(view if view.count > 1 else None)

    def _clear_live(self) -> None:
        self._result = None
        self._result_key = None
        self._live_override = None
        self._override_key = None
        self._refine_seed = None
        self._live_labels = None
        self.live_changed.emit()
        self.candidate_changed.emit(None)

    # --- live mask ------------------------------------------------------------------------------------
    def live_mask(self) -> np.ndarray | None:
        """The mask that Enter would accept (``H x W`` bool), or ``None``."""
        labels = self.live_labels()
        return None if labels is None else labels.view(bool)

    def live_labels(self) -> np.ndarray | None:
        """``H x W`` uint8 (0/1) of the live mask for the live layer (shared, do not edit)."""
        if self._live_override is not None:
            return self._live_override.view(np.uint8)
        return self._live_labels

    def live_table(self) -> list[int]:
        category = self.current_category()
        color = category.color if category is not None else (255, 255, 255)
        return color_table([color], alpha=FILL_ALPHA + 30)

    def set_live_override(self, mask: np.ndarray | None, image_key: str | None = None) -> None:
        """Used by :class:`LiveMaskCommand`: a hand-edited live mask (``None`` = the decoded candidate).

        The override belongs to the current prompts: a decode answer for other prompts replaces it, one for
        the same prompts (after an undo brought them back) keeps it. An ``image_key`` other than the current
        image (an undo after switching images) is ignored.
        """
        if image_key is not None and image_key != self.current_key:
            return
        self._live_override = mask
        self._override_key = None if mask is None else self._prompt_key(self.prompts.state)
        self.live_changed.emit()

    def _with_override_cleared(self, text: str, command: UndoCommand) -> UndoCommand:
        """``command``, preceded by dropping the hand-edited live mask as part of the same undo step."""
        if self._live_override is None or self.current_key is None:
            return command
        drop = LiveMaskCommand(self.set_live_override, self._live_override, None, self.current_key, text)
        return MacroCommand(text, [drop, command])

    def start_refinement(self, mask: np.ndarray) -> None:
        """Review (E): show ``mask`` (``H x W`` bool) as the live mask; the first click refines it (its
        logits are that click's ``mask_input``)."""
        if not self.prompts.state.is_empty:
            self.prompts.set(PromptState())
        self.select_instance(None)
        self._clear_live()
        self._refine_seed = np.ascontiguousarray(mask, dtype=bool)
        self.set_live_override(np.ascontiguousarray(mask, dtype=bool))

    def finish_refinement(self) -> None:
        """Review: drop the refinement's prompts and live mask and forget their undo steps."""
        self._refine_seed = None
        if not self.prompts.state.is_empty:
            self.prompts.set(PromptState())
        self.undo_stack.discard_prompt_commands()
        self.undo_stack.discard(lambda c: isinstance(c, LiveMaskCommand))
        self._clear_live()
