"""The session controller: the state of the annotation session between the widgets, the core and the worker.

It owns the :class:`~annotator.core.model.Project`, the undo stack, the prompt session, the segment client and
the image loader. Widgets send it user intents (a click, Enter, Tab...) and redraw from what it exposes when it
signals a change. Nothing here calls the model: decoding happens in the segment worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal, Slot

from annotator.core.events import Event
from annotator.core.masks import Mask
from annotator.core.model import Category, ImageStatus, Instance, Project
from annotator.core.project_store import Autosaver
from annotator.core.prompts import PromptSession, PromptState
from annotator.core.undo import (
    MacroCommand,
    RemoveInstanceCommand,
    SetPromptCommand,
    UndoCommand,
    UndoStack,
    accept_instance_command,
    set_category_command,
    set_hidden_command,
    set_mask_command,
)
from annotator.ui.live_edit import LiveMaskCommand
from annotator.ui.overlay import FILL_ALPHA, color_table
from annotator.workers.image_loader import DecodedImage, ImageLoader
from annotator.workers.mask_input import mask_to_logits
from annotator.workers.requests import DecodeResult
from annotator.workers.segment_client import SegmentClient

log = logging.getLogger(__name__)

SELECTED = 255  # label of the selected instance in the instance layer


@dataclass(frozen=True)
class CandidateView:
    """What the status bar says about the shown candidate."""

    index: int
    count: int
    score: float

    def text(self) -> str:
        return f"Candidate {self.index + 1}/{self.count} · predicted IoU {self.score:.2f}"


class SessionController(QObject):
    """Annotation session state and the rules of the interactive loop.

    Signals:
        image_loaded(DecodedImage): show this image (a new pixmap); layers follow with their own signals.
        image_failed(str key, str message): the image could not be shown.
        live_changed(): ``live_labels()`` changed (new answer, candidate, stroke, cleared).
        live_region_changed(QRect): an in-place edit of ``live_labels()`` inside this rectangle.
        instances_changed(): ``instance_labels()`` must be rebuilt (also after category colour changes).
        prompts_changed(): ``prompt_state`` changed (markers to redraw).
        candidate_changed(object): a :class:`CandidateView` or ``None``.
        selection_changed(object): the selected instance id or ``None``.
        current_image_changed(str): the current image key.
        status(str): a status-bar line. message(str, str): an error to show the user (title, text).
    """

    image_loaded = Signal(object)
    image_failed = Signal(str, str)
    live_changed = Signal()
    live_region_changed = Signal(QRect)
    instances_changed = Signal()
    prompts_changed = Signal()
    candidate_changed = Signal(object)
    selection_changed = Signal(object)
    current_image_changed = Signal(str)
    status = Signal(str)
    message = Signal(str, str)
    project_event = Signal(object)

    def __init__(
        self,
        project: Project,
        client: SegmentClient,
        loader: ImageLoader,
        *,
        autosaver: Autosaver | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.autosaver = autosaver
        self.client = client
        self.loader = loader
        self.undo_stack = UndoStack()
        self.prompts = PromptSession()
        self.current_key: str | None = None
        self.current_image: DecodedImage | None = None
        self.current_category_id: int | None = project.categories[0].id if project.categories else None
        self.selected_id: int | None = None
        self._result: DecodeResult | None = None
        self._result_key: tuple | None = None
        self._requested_key: tuple | None = None
        self._requested_state: PromptState | None = None
        self._live_override: np.ndarray | None = None
        self._override_key: tuple | None = None  # the prompts the override was painted on
        self._refine_seed: np.ndarray | None = None  # review: a proposal's logits for the first click
        self._live_labels: np.ndarray | None = None
        self._nav_direction = 1
        self.decode_requests = 0

        self.prompts.events.connect(self._on_prompt_event)
        project.events.connect(self._on_project_event)
        client.decoded.connect(self._on_decoded)
        client.failed.connect(self._on_decode_failed)
        client.encoding_started.connect(lambda _key: self.status.emit("Encoding image…"))
        client.encoded.connect(self._on_encoded)
        client.status.connect(self.status)
        loader.loaded.connect(self._on_image_loaded)
        loader.failed.connect(self._on_image_failed)
        if autosaver is not None:
            autosaver.events.connect(self._on_autosave_event)
        self._closed = False

    def shutdown(self) -> None:
        """Save pending changes and stop the worker threads (quit + wait). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.client.shutdown()
        self.loader.shutdown()
        if self.autosaver is not None:
            self.autosaver.close()

    def _on_autosave_event(self, event: Event) -> None:
        if event.type == "save_failed":
            self.message.emit("Cannot save the project", str(event.info["error"]))

    # --- images ---------------------------------------------------------------------------------------
    @property
    def image_keys(self) -> list[str]:
        return [record.file_name for record in self.project.images]

    def open_image(self, key: str) -> None:
        """Make ``key`` the current image: load it in the background, then encode it in the worker."""
        if key == self.current_key and self.current_image is not None:
            return
        self.undo_stack.discard_prompt_commands()
        self.undo_stack.discard(lambda c: isinstance(c, LiveMaskCommand))
        self.current_key = key
        self.current_image = None
        self.selected_id = None
        self._clear_live()
        self.client.clear_image()
        self.prompts.start_image(key)
        self.current_image_changed.emit(key)
        self.selection_changed.emit(None)
        self.status.emit(f"Loading {key}…")
        self.loader.load(key, self.project.root / key)

    def step_image(self, direction: int) -> None:
        """Go to the next (``+1``) or previous (``-1``) image, skipping images marked as errors."""
        keys = self.image_keys
        if not keys:
            return
        self._nav_direction = 1 if direction >= 0 else -1
        start = keys.index(self.current_key) if self.current_key in keys else -self._nav_direction
        index = start
        for _ in range(len(keys)):
            index += self._nav_direction
            if not 0 <= index < len(keys):
                self.status.emit("No more images in this direction")
                return
            if self.project.image(keys[index]).status is not ImageStatus.ERROR:
                self.open_image(keys[index])
                return
        self.status.emit("No other image can be opened")

    @Slot(object)
    def _on_image_loaded(self, image: DecodedImage) -> None:
        if image.key != self.current_key:
            return
        record = self.project.image(image.key)
        h, w = image.rgb.shape[:2]
        if (record.height, record.width) != (h, w):
            self.project.update_image(image.key, width=w, height=h)
        if record.status is ImageStatus.ERROR:
            self.project.set_image_status(image.key, ImageStatus.NOT_STARTED)
        self.current_image = image
        self.image_loaded.emit(image)
        self.instances_changed.emit()
        self.client.set_image(image.key, image.rgb)

    @Slot(str, str)
    def _on_image_failed(self, key: str, message: str) -> None:
        self.project.set_image_status(key, ImageStatus.ERROR, message)
        self.image_failed.emit(key, message)
        self.status.emit(f"Cannot open {key}: {message}")
        if key == self.current_key:
            self.current_image = None

    @Slot(str)
    def _on_encoded(self, key: str) -> None:
        if self.client.pending_decode:
            self.status.emit("Decoding…")

    # --- categories -----------------------------------------------------------------------------------
    def set_current_category(self, category_id: int) -> None:
        """Category for the next accepted object (and the live mask colour)."""
        self.current_category_id = category_id
        self.live_changed.emit()

    def current_category(self) -> Category | None:
        cid = self.current_category_id
        return self.project.category(cid) if cid is not None and self.project.has_category(cid) else None

    def category_slots(self) -> list[Category]:
        return list(self.project.categories)

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
        mask_input = state.logits if state.logits is not None else self._refine_seed
        refining = self.selected_id is not None and self.current_key is not None
        if mask_input is None and refining:
            _key, instance = self.project.find_instance(self.selected_id)  # type: ignore[arg-type]
            mask_input = mask_to_logits(instance.mask.array())
        multimask = len(state.points) == 1 and state.box is None and mask_input is None
        self._requested_key = self._prompt_key(state)
        self._requested_state = state
        self.decode_requests += 1
        self.client.decode(
            state.point_coords(), state.point_labels(), state.box_array(), mask_input, multimask
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
        self._refine_seed = mask_to_logits(mask)
        self.set_live_override(np.ascontiguousarray(mask, dtype=bool))

    def finish_refinement(self) -> None:
        """Review: drop the refinement's prompts and live mask and forget their undo steps."""
        self._refine_seed = None
        if not self.prompts.state.is_empty:
            self.prompts.set(PromptState())
        self.undo_stack.discard_prompt_commands()
        self.undo_stack.discard(lambda c: isinstance(c, LiveMaskCommand))
        self._clear_live()

    # --- instances ------------------------------------------------------------------------------------
    def accept(self) -> None:
        """Enter: store the live mask as an instance of the current category (or as the selected one's mask)."""
        mask = self.live_mask()
        key = self.current_key
        if key is None or mask is None:
            return
        if not mask.any():
            self.status.emit("The mask is empty: nothing to accept")
            return
        score = float(self._result.scores[self.prompts.state.candidate_index]) if self._result else None
        if self.selected_id is not None:
            command = MacroCommand(
                "Refine object",
                [
                    set_mask_command(self.project, key, self.selected_id, Mask.from_array(mask)),
                    SetPromptCommand(self.prompts, PromptState()),
                ],
            )
            self.undo_stack.push(self._with_override_cleared("Refine object", command))
            self.select_instance(None)
        else:
            category = self.current_category()
            if category is None:
                self.message.emit("No category", "Add a category before accepting an object.")
                return
            source = (
                "manual" if self._live_override is not None or self._result is None else self._engine_source()
            )
            instance = self.project.new_instance(
                Mask.from_array(mask), category.id, source=source, score=score
            )
            accepted = accept_instance_command(self.project, self.prompts, instance)
            self.undo_stack.push(self._with_override_cleared("Accept object", accepted))
        self._clear_live()
        record = self.project.image(key)
        if record.status is ImageStatus.NOT_STARTED:
            self.project.set_image_status(key, ImageStatus.IN_PROGRESS)
        self.status.emit(f"{len(record.instances)} object(s) on this image")

    def _engine_source(self) -> str:
        engine = self.client.engine
        return "classic" if engine is not None and engine.checkpoint is None else "sam"

    def current_instances(self) -> tuple[Instance, ...]:
        if self.current_key is None or not self.project.has_image(self.current_key):
            return ()
        return self.project.image(self.current_key).instances

    def select_instance(self, instance_id: int | None) -> None:
        """Select an instance to refine/edit (``None`` deselects); further clicks start from its mask."""
        if instance_id == self.selected_id:
            return
        if not self.prompts.state.is_empty:
            self.prompts.set(PromptState())
        self.selected_id = instance_id
        self.selection_changed.emit(instance_id)
        self.instances_changed.emit()

    def selected_instance(self) -> Instance | None:
        if self.selected_id is None or self.current_key is None:
            return None
        return self.project.image(self.current_key).instance(self.selected_id)

    def delete_instance(self, instance_id: int) -> None:
        if self.current_key is None:
            return
        if instance_id == self.selected_id:
            self.select_instance(None)
        self.undo_stack.push(RemoveInstanceCommand(self.project, self.current_key, instance_id))

    def set_instance_category(self, instance_id: int, category_id: int) -> None:
        if self.current_key is not None:
            self.undo_stack.push(
                set_category_command(self.project, self.current_key, instance_id, category_id)
            )

    def set_instance_hidden(self, instance_id: int, hidden: bool) -> None:
        if self.current_key is not None:
            self.undo_stack.push(set_hidden_command(self.project, self.current_key, instance_id, hidden))

    def set_instance_mask(self, instance_id: int, mask: np.ndarray, text: str = "Edit mask") -> None:
        """Replace an instance's mask (one undoable step)."""
        if self.current_key is None:
            return
        command = set_mask_command(self.project, self.current_key, instance_id, Mask.from_array(mask))
        command.text = text
        self.undo_stack.push(command)

    def instance_labels(self, exclude: int | None = None) -> tuple[np.ndarray | None, list[int]]:
        """Label image of the visible instances (label = category slot; the selected one ``SELECTED``)."""
        image = self.current_image
        if image is None:
            return None, color_table([])
        categories = self.category_slots()
        slot = {c.id: i + 1 for i, c in enumerate(categories[:250])}
        h, w = image.rgb.shape[:2]
        labels = np.zeros((h, w), np.uint8)
        for inst in self.current_instances():
            if inst.hidden or inst.id == exclude or inst.mask.shape != (h, w):
                continue
            x, y, bw, bh = inst.mask.bbox
            if bw == 0:
                continue
            region = inst.mask.array()[y : y + bh, x : x + bw]
            value = SELECTED if inst.id == self.selected_id else slot.get(inst.category_id, 0)
            labels[y : y + bh, x : x + bw][region] = value
        colors: list[tuple[int, int, int] | None] = [c.color for c in categories[:250]]
        table = color_table(colors)
        selected = self.selected_instance()
        if selected is not None and self.project.has_category(selected.category_id):
            r, g, b = self.project.category(selected.category_id).color
            table[SELECTED] = color_table([(r, g, b)], alpha=200)[1]
        return labels, table

    def _on_project_event(self, event: Event) -> None:
        self.project_event.emit(event)
        if event.type.startswith("instance_") and event.image_key == self.current_key:
            if event.type == "instance_removed" and event.instance_id == self.selected_id:
                self.selected_id = None
                self.selection_changed.emit(None)
            self.instances_changed.emit()
        elif event.type.startswith("category_") or event.type == "reset":
            if self.current_category_id is not None and not self.project.has_category(
                self.current_category_id
            ):
                cats = self.project.categories
                self.current_category_id = cats[0].id if cats else None
            self.instances_changed.emit()
            self.live_changed.emit()

    # --- undo -----------------------------------------------------------------------------------------
    def undo(self) -> None:
        if self.undo_stack.can_undo:
            self.undo_stack.undo()

    def redo(self) -> None:
        if self.undo_stack.can_redo:
            self.undo_stack.redo()

    def set_status(self, status: ImageStatus) -> None:
        if self.current_key is not None:
            self.project.set_image_status(self.current_key, status)

    def image_path(self, key: str) -> Path:
        return self.project.root / key
