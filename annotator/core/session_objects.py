"""The accepted objects of the session's current image: which one a click selects, accepting the live mask
(a new object, or the selected one's new mask) or the drawn box itself (a box-only object), and the undoable
edits (delete, category, hidden, mask).

:class:`ObjectEditor` is the ``objects`` part of :class:`~annotator.core.session.Session`; it reads and
changes the session only through the session's public attributes and methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from annotator.core.coco_values import box_mask
from annotator.core.masks import Mask
from annotator.core.model import ImageStatus, Instance
from annotator.core.prompts import PromptState
from annotator.core.selection import instances_at, pick
from annotator.core.session_events import SessionChange, SessionEvent
from annotator.core.undo import (
    MacroCommand,
    RemoveInstanceCommand,
    SetPromptCommand,
    accept_instance_command,
    set_category_command,
    set_hidden_command,
    set_mask_command,
)

if TYPE_CHECKING:
    from annotator.core.session import Session


class ObjectEditor:
    """Select, accept and edit the current image's objects (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _emit(self, event: SessionEvent) -> None:
        self._session.events.emit(event)

    # --- which object a click means ---------------------------------------------------------------------
    def current(self) -> tuple[Instance, ...]:
        """The current image's objects (bottom to top)."""
        s = self._session
        if s.current_key is None or not s.project.has_image(s.current_key):
            return ()
        return s.project.image(s.current_key).instances

    def selected(self) -> Instance | None:
        s = self._session
        if s.selected_id is None or s.current_key is None:
            return None
        return s.project.image(s.current_key).instance(s.selected_id)

    def drawing(self) -> bool:
        """Whether an object is in progress: prompts, a live mask, or a selected object being refined."""
        s = self._session
        return s.selected_id is not None or not s.prompt_state.is_empty or s.live.live_labels() is not None

    def click_selects(self, x: float, y: float, label: int) -> int | None:
        """The object a click at image pixel ``(x, y)`` would select (``None``: the click is a prompt).

        A positive click selects the topmost object under it when no object is in progress and N was not
        pressed; otherwise clicks are prompts (they refine the selected object, or start a new one)."""
        if label != 1 or self._session.new_object_armed or self.drawing():
            return None
        return pick(instances_at(self.current(), x, y), None, cycle=False)

    def seed_for_request(self) -> np.ndarray | None:
        """A request without logits refining the selected object starts from its mask (a box is no shape)."""
        s = self._session
        if s.selected_id is None or s.current_key is None:
            return None
        _key, instance = s.project.find_instance(s.selected_id)
        return instance.mask.array() if instance.box is None else None

    def select(self, instance_id: int | None) -> None:
        """Select an object to refine/edit (``None`` deselects); further clicks start from its mask."""
        s = self._session
        if instance_id == s.selected_id:
            return
        if not s.prompt_state.is_empty:
            s.live.prompts.set(PromptState())
        previous, s.selected_id = s.selected_id, instance_id
        # Views redraw the two objects concerned (no INSTANCES event: that would redraw them all).
        self._emit(SessionEvent(SessionChange.SELECTION, instance_id=instance_id, previous_id=previous))

    def cycle_select_at(self, x: float, y: float) -> None:
        """Alt-click: select the next object down under the pointer (the topmost first)."""
        hit = pick(instances_at(self.current(), x, y), self._session.selected_id, cycle=True)
        if hit is not None and hit != self._session.selected_id:
            self.select(hit)

    def new_object(self) -> None:
        """N: leave the selected object; the next click starts a new object, even on an accepted one."""
        if self._session.selected_id is not None:
            self.select(None)
        self._session.new_object_armed = True
        self._session.status("New object: click on the image")

    def selection_hint(self) -> str:
        """The hint shown while an object is selected (empty when none is)."""
        inst = self.selected()
        if inst is None:
            return ""
        project = self._session.project
        name = project.category(inst.category_id).name if project.has_category(inst.category_id) else "?"
        return f"Object #{inst.id} ({name}) selected: clicks refine it · N: new object · Esc: deselect"

    def refining_id(self) -> int | None:
        """The selected object while a new mask for it is shown (its old fill is then left out)."""
        s = self._session
        return s.selected_id if s.selected_id is not None and s.live.live_labels() is not None else None

    # --- accept and edit ----------------------------------------------------------------------------------
    def accept(self) -> None:
        """Enter: store the live mask as an object of the current category (or as the selected one's mask)."""
        s = self._session
        mask = s.live_mask()
        key = s.current_key
        if key is None or mask is None:
            return
        if not mask.any():
            s.status("The mask is empty: nothing to accept")
            return
        live = s.live
        if s.selected_id is not None:
            command = MacroCommand(
                "Refine object",
                [
                    set_mask_command(s.project, key, s.selected_id, Mask.from_array(mask)),
                    SetPromptCommand(live.prompts, PromptState()),
                ],
            )
            s.undo_stack.push(live.with_override_cleared("Refine object", command))
            self.select(None)
        else:
            category = s.current_category()
            if category is None:
                self._emit(
                    SessionEvent(
                        SessionChange.MESSAGE,
                        title="No category",
                        text="Add a category before accepting an object.",
                    )
                )
                return
            source = "manual" if live.override is not None or live.answer is None else self._engine_source()
            instance = s.project.new_instance(
                Mask.from_array(mask), category.id, source=source, score=live.score()
            )
            accepted = accept_instance_command(s.project, live.prompts, instance)
            s.undo_stack.push(live.with_override_cleared("Accept object", accepted))
        live.clear()
        record = s.project.image(key)
        if record.status is ImageStatus.NOT_STARTED:
            s.project.set_image_status(key, ImageStatus.IN_PROGRESS)
        s.status(f"{len(record.instances)} object(s) on this image")

    def accept_box(self) -> None:
        """Shift+Enter: keep the drawn box itself as a box-only object of the current category (no mask from
        the model: shown, exported and turned into a mask by Boxes to masks like an imported box).

        Needs exactly one box prompt, no clicks and no selected object; the box is clipped to the image and
        rounded to 0.01 px. One undoable step that also clears the prompt (undo brings the box prompt back).
        """
        s = self._session
        key, state = s.current_key, s.prompt_state
        if key is None:
            return
        if state.box is None or state.points or s.selected_id is not None:
            s.status("Accept as box: draw one box with the prompt tool (no clicks, no object selected)")
            return
        record = s.project.image(key)
        x0, y0, x1, y1 = state.box
        x0, x1 = (round(min(max(v, 0.0), float(record.width)), 2) for v in (x0, x1))
        y0, y1 = (round(min(max(v, 0.0), float(record.height)), 2) for v in (y0, y1))
        if x1 - x0 < 1 or y1 - y0 < 1:
            s.status("The box is less than a pixel wide or high inside the image: nothing to accept")
            return
        category = s.current_category()
        if category is None:
            self._emit(
                SessionEvent(
                    SessionChange.MESSAGE, title="No category", text="Add a category before accepting a box."
                )
            )
            return
        box = (x0, y0, round(x1 - x0, 2), round(y1 - y0, 2))
        live = s.live
        instance = s.project.new_instance(
            box_mask(box, record.height, record.width), category.id, source="manual", box=box
        )
        accepted = accept_instance_command(s.project, live.prompts, instance, "Accept as box")
        s.undo_stack.push(live.with_override_cleared("Accept as box", accepted))
        live.clear()
        if record.status is ImageStatus.NOT_STARTED:
            s.project.set_image_status(key, ImageStatus.IN_PROGRESS)
        s.status(f"Box object #{instance.id} ({category.name}) accepted; Tools > Boxes to masks segments it")

    def _engine_source(self) -> str:
        engine = self._session.decoder.engine
        return "classic" if engine is not None and engine.checkpoint is None else "sam"

    def segment_box(self) -> None:
        """S: the selected box-only object's box becomes the prompt (Enter then replaces the box by the mask)."""
        s = self._session
        instance = self.selected()
        if instance is None or instance.box is None:
            s.status("Select a box-only object (an imported or accepted box) to segment it")
            return
        x, y, w, h = instance.box
        s.undo_stack.push(
            SetPromptCommand(s.live.prompts, s.prompt_state.with_box((x, y, x + w, y + h)), "Segment box")
        )

    def delete(self, instance_id: int) -> None:
        s = self._session
        if s.current_key is None:
            return
        if instance_id == s.selected_id:
            self.select(None)
        s.undo_stack.push(RemoveInstanceCommand(s.project, s.current_key, instance_id))

    def set_category(self, instance_id: int, category_id: int) -> None:
        s = self._session
        if s.current_key is not None:
            s.undo_stack.push(set_category_command(s.project, s.current_key, instance_id, category_id))

    def set_hidden(self, instance_id: int, hidden: bool) -> None:
        s = self._session
        if s.current_key is not None:
            s.undo_stack.push(set_hidden_command(s.project, s.current_key, instance_id, hidden))

    def set_mask(self, instance_id: int, mask: np.ndarray, text: str = "Edit mask") -> None:
        """Replace an object's mask (``H x W`` bool; one undoable step)."""
        s = self._session
        if s.current_key is None:
            return
        command = set_mask_command(s.project, s.current_key, instance_id, Mask.from_array(mask))
        command.text = text
        s.undo_stack.push(command)
