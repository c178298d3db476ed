"""Instance operations of :class:`~annotator.ui.controller.SessionController`.

:class:`InstanceMixin` accepts the live mask (as a new instance, or as the selected instance's new mask),
selects, deletes and edits instances (category, hidden, mask) as undoable steps, and renders the label image
of the current image's instances for the instance layer.
"""

from __future__ import annotations

import numpy as np

from annotator.core.masks import Mask
from annotator.core.model import ImageStatus, Instance
from annotator.core.overlay_style import OverlayStyle
from annotator.core.prompts import PromptState
from annotator.core.selection import instances_at, object_colors, pick
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
from annotator.ui.outlines import OutlineSpec
from annotator.ui.overlay import color_table

SELECTED = 255  # label of the selected instance in the instance layer
MAX_LABELS = 254  # instances beyond this many share the last label (and its colour)


class InstanceMixin(SessionPart):
    """Accept, select, delete and edit the current image's instances (a part of ``SessionController``).

    ``overlay_style`` (opacity, outline-only, hide-all) is how the objects are drawn; ``new_object_armed``: the
    next click starts a new object even on an accepted one (N).
    """

    overlay_style: OverlayStyle = OverlayStyle()
    new_object_armed: bool = False

    # --- clicks on objects --------------------------------------------------------------------------------
    def drawing_object(self) -> bool:
        """Whether an object is in progress: prompts, a live mask, or a selected object being refined."""
        return (
            self.selected_id is not None or not self.prompts.state.is_empty or self.live_labels() is not None
        )

    def click_selects(self, x: float, y: float, label: int) -> int | None:
        """The object a click at image pixel ``(x, y)`` would select (``None``: the click is a prompt).

        A positive click selects the topmost object under it when no object is in progress and N was not
        pressed; otherwise clicks are prompts (they refine the selected object, or start a new one)."""
        if label != 1 or self.new_object_armed or self.drawing_object():
            return None
        return pick(instances_at(self.current_instances(), x, y), None, cycle=False)

    def click(self, x: float, y: float, label: int) -> None:
        """A click in prompt mode: select the object under the pointer, or add a prompt point."""
        if self.current_key is None or self.current_image is None:
            return
        hit = self.click_selects(x, y, label)
        if hit is not None:
            self.select_instance(hit)  # the window shows selection_hint() while it lasts
            return
        self.new_object_armed = False
        self.add_point(x, y, label)

    def cycle_select_at(self, x: float, y: float) -> None:
        """Alt-click: select the next object down under the pointer (the topmost first)."""
        hit = pick(instances_at(self.current_instances(), x, y), self.selected_id, cycle=True)
        if hit is not None and hit != self.selected_id:
            self.select_instance(hit)

    def new_object(self) -> None:
        """N: leave the selected object (its refinement prompts are dropped); the next click starts a new
        object, even on top of an accepted one."""
        if self.selected_id is not None:
            self.select_instance(None)
        self.new_object_armed = True
        self.status.emit("New object: click on the image")

    def selection_hint(self) -> str:
        """The hint shown while an object is selected (empty when none is)."""
        inst = self.selected_instance()
        if inst is None:
            return ""
        name = (
            self.project.category(inst.category_id).name
            if self.project.has_category(inst.category_id)
            else "?"
        )
        return f"Object #{inst.id} ({name}) selected: clicks refine it · N: new object · Esc: deselect"

    # --- drawing ------------------------------------------------------------------------------------------
    def set_overlay_style(self, style: OverlayStyle) -> None:
        """Change how objects are drawn (opacity, outline-only, hide-all)."""
        self.overlay_style = style
        self.instances_changed.emit()

    def refining_id(self) -> int | None:
        """The selected object while a new mask for it is shown (its old fill is then left out)."""
        return self.selected_id if self.selected_id is not None and self.live_labels() is not None else None

    def instance_outlines(self, exclude: int | None = None) -> list[OutlineSpec]:
        """What the outline layer draws: every visible object of the current image, in its own colour."""
        if self.overlay_style.hide_all or self.current_image is None:
            return []
        h, w = self.current_image.rgb.shape[:2]
        instances = self.current_instances()
        colors = object_colors(instances, {c.id: c.color for c in self.category_slots()})
        skip = {exclude, self.refining_id()}
        return [
            OutlineSpec(inst.id, inst.mask, colors[inst.id], inst.id == self.selected_id)
            for inst in instances
            if not inst.hidden and inst.id not in skip and inst.id in colors and inst.mask.shape == (h, w)
        ]

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
        """Label image of the visible instances (label = position in the image's list, the selected one
        ``SELECTED``) and its colour table: each object in its own shade of its category colour, with the
        overlay style's opacity. The object being refined (``refining_id``) is left out."""
        image = self.current_image
        style = self.overlay_style
        if image is None or style.hide_all:
            return None, color_table([])
        h, w = image.rgb.shape[:2]
        labels = np.zeros((h, w), np.uint8)
        instances = self.current_instances()
        colors = object_colors(instances, {c.id: c.color for c in self.category_slots()})
        table_colors: list[tuple[int, int, int] | None] = [None] * MAX_LABELS
        skip = {exclude, self.refining_id()}
        for index, inst in enumerate(instances):
            if inst.hidden or inst.id in skip or inst.mask.shape != (h, w) or inst.id not in colors:
                continue
            x, y, bw, bh = inst.mask.bbox
            if bw == 0:
                continue
            region = inst.mask.array()[y : y + bh, x : x + bw]
            label = min(index + 1, MAX_LABELS)
            if inst.id == self.selected_id:
                label = SELECTED
            else:
                table_colors[label - 1] = colors[inst.id]
            labels[y : y + bh, x : x + bw][region] = label
        table = color_table(table_colors, alpha=style.fill_alpha)
        selected = self.selected_instance()
        if selected is not None and selected.id in colors:
            table[SELECTED] = color_table([colors[selected.id]], alpha=style.selected_alpha)[1]
        return labels, table
