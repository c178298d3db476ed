"""Instance operations of :class:`~annotator.ui.controller.SessionController`.

:class:`InstanceMixin` accepts the live mask (as a new instance, or as the selected instance's new mask),
selects, deletes and edits instances (category, hidden, mask) as undoable steps, and renders the label image
of the current image's instances for the instance layer.
"""

from __future__ import annotations

import numpy as np

from annotator.core.masks import Mask
from annotator.core.model import ImageStatus, Instance
from annotator.core.prompts import PromptState
from annotator.core.undo import (
    MacroCommand,
    RemoveInstanceCommand,
    SetPromptCommand,
    accept_instance_command,
    set_category_command,
    set_hidden_command,
    set_mask_command,
)
from annotator.ui.controller_base import SessionPart
from annotator.ui.overlay import color_table

SELECTED = 255  # label of the selected instance in the instance layer


class InstanceMixin(SessionPart):
    """Accept, select, delete and edit the current image's instances (a part of ``SessionController``)."""

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

    def segment_box(self) -> None:
        """S: the selected box-only object's box becomes the prompt (Enter then replaces the box by the mask)."""
        instance = self.selected_instance()
        if instance is None or instance.box is None:
            self.status.emit("Select a box-only object (an imported box) to segment it")
            return
        x, y, w, h = instance.box
        self.undo_stack.push(
            SetPromptCommand(self.prompts, self.prompts.state.with_box((x, y, x + w, y + h)), "Segment box")
        )

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
