"""Undo/redo: a command stack and one command per kind of user edit.

Usage from the UI: build a command and ``stack.push(cmd)`` (which applies it); Ctrl+Z calls ``stack.undo()``,
Ctrl+Shift+Z ``stack.redo()``. ``stack.events`` emits ``undo_stack_changed`` after every push/undo/redo/clear
so menus can update (``can_undo``, ``undo_text``...). The model's own events tell views what changed.

One stack serves a whole project session. Prompt commands carry their image key; when the user leaves an
image, the UI calls ``stack.discard_prompt_commands()`` so Ctrl+Z never resurrects prompts of another image
(annotation commands stay undoable; they do not depend on prompt commands).

Every command says which image it changes (``image_key``; ``None``: project-wide, e.g. categories, an import).
The UI never undoes a change of an image that is not shown: :func:`undo_step` tells it to bring that image into
view first (ADR 0008).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from annotator.core.errors import ModelError, UndoError
from annotator.core.events import Event, EventEmitter
from annotator.core.masks import Mask
from annotator.core.model import RGB, Category, Instance, Project
from annotator.core.prompts import PromptSession, PromptState


class UndoCommand:
    """Base class: ``redo()`` applies the change (also the first time), ``undo()`` reverts it."""

    text: str = ""
    image_key: str | None = None
    """The image this command changes; ``None`` for project-wide changes (categories, imports)."""

    def redo(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError


class UndoStack:
    """A linear history of commands with a cursor; pushing after an undo drops the redo tail."""

    def __init__(self, limit: int = 1000) -> None:
        """``limit``: most commands kept (the oldest are forgotten)."""
        self.events = EventEmitter()
        self.limit = limit
        self._commands: list[UndoCommand] = []
        self._index = 0  # commands[:index] are applied

    def push(self, command: UndoCommand) -> None:
        """Apply ``command`` and record it. If applying raises, nothing is recorded and the error
        propagates."""
        command.redo()
        del self._commands[self._index :]
        self._commands.append(command)
        if len(self._commands) > self.limit:
            del self._commands[: len(self._commands) - self.limit]
        self._index = len(self._commands)
        self._changed()

    def undo(self) -> UndoCommand:
        """Revert the last applied command and return it; ``UndoError`` when there is none."""
        if not self.can_undo:
            raise UndoError("nothing to undo")
        command = self._commands[self._index - 1]
        command.undo()
        self._index -= 1
        self._changed()
        return command

    def redo(self) -> UndoCommand:
        """Re-apply the next command and return it; ``UndoError`` when there is none."""
        if not self.can_redo:
            raise UndoError("nothing to redo")
        command = self._commands[self._index]
        command.redo()
        self._index += 1
        self._changed()
        return command

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def next_undo(self) -> UndoCommand | None:
        """The command ``undo()`` would revert, if any."""
        return self._commands[self._index - 1] if self.can_undo else None

    @property
    def next_redo(self) -> UndoCommand | None:
        """The command ``redo()`` would apply, if any."""
        return self._commands[self._index] if self.can_redo else None

    @property
    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self.can_undo else ""

    def __len__(self) -> int:
        return len(self._commands)

    @property
    def index(self) -> int:
        """How many commands are applied."""
        return self._index

    def clear(self) -> None:
        """Forget the history (the model keeps its current state)."""
        self._commands.clear()
        self._index = 0
        self._changed()

    def discard(self, predicate: Callable[[UndoCommand], bool]) -> None:
        """Forget the commands for which ``predicate`` is true (only for commands others do not depend on)."""
        applied = [c for c in self._commands[: self._index] if not predicate(c)]
        pending = [c for c in self._commands[self._index :] if not predicate(c)]
        self._commands = applied + pending
        self._index = len(applied)
        self._changed()

    def discard_prompt_commands(self) -> None:
        """Forget every :class:`SetPromptCommand` (call when leaving an image or finishing an object)."""
        self.discard(lambda c: isinstance(c, SetPromptCommand))

    def _changed(self) -> None:
        self.events.emit(Event("undo_stack_changed", self))


class MacroCommand(UndoCommand):
    """Several commands as one step; undone in reverse order. A failing part rolls back the parts done."""

    def __init__(self, text: str, commands: Sequence[UndoCommand]) -> None:
        self.text = text
        self.commands = list(commands)

    @property
    def image_key(self) -> str | None:  # type: ignore[override]
        """The one image all parts change, else ``None`` (project-wide)."""
        keys = {c.image_key for c in self.commands}
        return keys.pop() if len(keys) == 1 else None

    def redo(self) -> None:
        done: list[UndoCommand] = []
        try:
            for command in self.commands:
                command.redo()
                done.append(command)
        except Exception:
            for command in reversed(done):
                command.undo()
            raise

    def undo(self) -> None:
        for command in reversed(self.commands):
            command.undo()


# -- instances
# --------------------------------------------------------------------------------------------------
class AddInstanceCommand(UndoCommand):
    """Add ``instance`` (built with ``project.new_instance``) to image ``image_key``."""

    image_key: str

    def __init__(
        self, project: Project, image_key: str, instance: Instance, text: str = "Add object"
    ) -> None:
        self.project, self.image_key, self.instance, self.text = project, image_key, instance, text
        self._index: int | None = None

    def redo(self) -> None:
        self.project.add_instance(self.image_key, self.instance, self._index)

    def undo(self) -> None:
        _, self._index = self.project.remove_instance(self.image_key, self.instance.id)


class RemoveInstanceCommand(UndoCommand):
    """Delete an instance; undo puts it back at the same drawing position."""

    image_key: str

    def __init__(
        self, project: Project, image_key: str, instance_id: int, text: str = "Delete object"
    ) -> None:
        self.project, self.image_key, self.instance_id, self.text = project, image_key, instance_id, text
        self._removed: tuple[Instance, int] | None = None

    def redo(self) -> None:
        self._removed = self.project.remove_instance(self.image_key, self.instance_id)

    def undo(self) -> None:
        if self._removed is None:
            raise UndoError("delete was never applied")
        instance, index = self._removed
        self.project.add_instance(self.image_key, instance, index)


class UpdateInstanceCommand(UndoCommand):
    """Change fields of an instance: ``category_id``, ``hidden``, ``iscrowd``, ``mask`` (+ ``polygons``),
    ``score``, ``source``. ``mask`` must be a :class:`Mask` of the image size."""

    FIELDS = frozenset({"category_id", "hidden", "iscrowd", "mask", "polygons", "score", "source"})
    image_key: str

    def __init__(
        self, project: Project, image_key: str, instance_id: int, text: str = "", **changes: Any
    ) -> None:
        unknown = set(changes) - self.FIELDS
        if unknown or not changes:
            raise ModelError(f"cannot change instance fields {sorted(unknown) or '(none)'}")
        if "mask" in changes and not isinstance(changes["mask"], Mask):
            raise ModelError("'mask' must be an annotator.core.masks.Mask")
        self.project, self.image_key, self.instance_id = project, image_key, instance_id
        self.changes = changes
        self.text = text or "Change " + ", ".join(sorted(changes))
        self._old: Instance | None = None

    def redo(self) -> None:
        current = self.project.image(self.image_key).instance(self.instance_id)
        self._old = self.project.replace_instance(self.image_key, current.replace(**self.changes))

    def undo(self) -> None:
        if self._old is None:
            raise UndoError("change was never applied")
        self.project.replace_instance(self.image_key, self._old)


class UndoStep:
    """What Ctrl+Z (or redo) would do now, seen from the image ``current_key`` the user is looking at.

    ``command``: the command (``None``: nothing to do). ``elsewhere``: the image it changes when that is not the
    shown one (the UI brings it into view instead of changing it out of sight). ``menu_text``: e.g.
    ``"Undo Accept object"``, ``"Undo Accept object (on b.png)"``, ``"Undo"``.
    """

    def __init__(self, verb: str, command: UndoCommand | None, current_key: str | None) -> None:
        self.verb, self.command = verb, command
        key = None if command is None else command.image_key
        self.elsewhere: str | None = key if key is not None and key != current_key else None

    @property
    def menu_text(self) -> str:
        if self.command is None:
            return self.verb
        where = f" (on {self.elsewhere})" if self.elsewhere else ""
        return f"{self.verb} {self.command.text}{where}"


def undo_step(stack: UndoStack, current_key: str | None) -> UndoStep:
    """The step Ctrl+Z would take with ``current_key`` shown."""
    return UndoStep("Undo", stack.next_undo, current_key)


def redo_step(stack: UndoStack, current_key: str | None) -> UndoStep:
    """The step redo would take with ``current_key`` shown."""
    return UndoStep("Redo", stack.next_redo, current_key)


def set_category_command(project: Project, image_key: str, instance_id: int, category_id: int) -> UndoCommand:
    return UpdateInstanceCommand(project, image_key, instance_id, "Change category", category_id=category_id)


def set_hidden_command(project: Project, image_key: str, instance_id: int, hidden: bool) -> UndoCommand:
    return UpdateInstanceCommand(project, image_key, instance_id, "Hide" if hidden else "Show", hidden=hidden)


def set_mask_command(
    project: Project,
    image_key: str,
    instance_id: int,
    mask: Mask,
    polygons: tuple[tuple[float, ...], ...] | None = None,
    text: str = "Edit mask",
) -> UndoCommand:
    """Replace a mask (brush/eraser stroke, polygon edit); ``polygons`` only if they rasterise exactly to
    it."""
    return UpdateInstanceCommand(project, image_key, instance_id, text, mask=mask, polygons=polygons)


# -- categories
# -------------------------------------------------------------------------------------------------
class AddCategoryCommand(UndoCommand):
    """Create a category; its id is reserved at construction so redo recreates the same id."""

    def __init__(
        self, project: Project, name: str, color: RGB | None = None, supercategory: str = ""
    ) -> None:
        self.project = project
        self.category_id = project.reserve_category_id()
        self.name, self.color, self.supercategory = name, color, supercategory
        self.text = f"Add category {name}"

    def redo(self) -> None:
        self.project.add_category(self.name, self.color, self.supercategory, id=self.category_id)

    def undo(self) -> None:
        self.project.remove_category(self.category_id)


class UpdateCategoryCommand(UndoCommand):
    """Rename, recolour or change the supercategory of a category."""

    def __init__(self, project: Project, category_id: int, text: str = "", **changes: Any) -> None:
        if not changes or set(changes) - {"name", "color", "supercategory"}:
            raise ModelError(f"cannot change category fields {sorted(changes)}")
        self.project, self.category_id, self.changes = project, category_id, changes
        self.text = text or "Change category " + ", ".join(sorted(changes))
        self._old: Category | None = None

    def redo(self) -> None:
        self._old = self.project.category(self.category_id)
        self.project.update_category(self.category_id, **self.changes)

    def undo(self) -> None:
        if self._old is None:
            raise UndoError("change was never applied")
        old = self._old
        self.project.update_category(old.id, name=old.name, color=old.color, supercategory=old.supercategory)


def rename_category_command(project: Project, category_id: int, name: str) -> UndoCommand:
    return UpdateCategoryCommand(project, category_id, "Rename category", name=name)


def recolor_category_command(project: Project, category_id: int, color: RGB) -> UndoCommand:
    return UpdateCategoryCommand(project, category_id, "Recolour category", color=color)


class RemoveCategoryCommand(UndoCommand):
    """Delete a category together with the instances that use it; undo restores both in place."""

    def __init__(self, project: Project, category_id: int) -> None:
        self.project, self.category_id = project, category_id
        self.text = f"Delete category {project.category(category_id).name}"
        self._category: tuple[Category, int] | None = None
        self._instances: list[tuple[str, Instance, int]] = []

    def redo(self) -> None:
        removed: list[tuple[str, Instance, int]] = []
        for record in self.project.images:
            for inst in record.instances:
                if inst.category_id == self.category_id:
                    removed.append(
                        (record.file_name, *self.project.remove_instance(record.file_name, inst.id))
                    )
        self._instances = removed
        self._category = self.project.remove_category(self.category_id)

    def undo(self) -> None:
        if self._category is None:
            raise UndoError("delete was never applied")
        self.project.insert_category(*self._category)
        for key, instance, index in reversed(self._instances):
            self.project.add_instance(key, instance, index)


# -- prompts
# ----------------------------------------------------------------------------------------------------
class SetPromptCommand(UndoCommand):
    """Replace the prompt state of ``session`` (a click, a box, a candidate choice, a reset)."""

    def __init__(self, session: PromptSession, state: PromptState, text: str = "Prompt") -> None:
        self.session, self.new, self.text = session, state, text
        self.image_key = session.image_key
        self.old = session.state

    def redo(self) -> None:
        self.session.restore(self.image_key, self.new)

    def undo(self) -> None:
        self.session.restore(self.image_key, self.old)


def accept_instance_command(
    project: Project, session: PromptSession, instance: Instance, text: str = "Accept object"
) -> MacroCommand:
    """Add ``instance`` to the session's image and clear the prompt, as one step (undo brings the prompt
    back)."""
    if session.image_key is None:
        raise ModelError("the prompt session has no image")
    return MacroCommand(
        text,
        [AddInstanceCommand(project, session.image_key, instance), SetPromptCommand(session, PromptState())],
    )
