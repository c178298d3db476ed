"""Category operations beyond add/rename/recolour (Qt-free): delete with its objects or moving them, and merge.

Deleting a category that objects use asks what happens to them (the UI asks; here it is ``move_to``): they are
deleted with it, or moved to another category first. Merging A into B is the second case. Either is one
undoable step (:class:`~annotator.core.undo.MacroCommand`): undo restores the category at its place in the
order and every object as it was.
"""

from __future__ import annotations

from annotator.core.errors import ModelError
from annotator.core.model import Project
from annotator.core.records import Category
from annotator.core.undo import (
    MacroCommand,
    RemoveInstanceCommand,
    UndoCommand,
    UndoError,
    set_category_command,
)


class RemoveCategoryCommand(UndoCommand):
    """Remove an unused category; undo puts it back at the same place in the order."""

    def __init__(self, project: Project, category_id: int, text: str = "Delete category") -> None:
        self.project, self.category_id, self.text = project, category_id, text
        self._removed: tuple[Category, int] | None = None

    def redo(self) -> None:
        self._removed = self.project.remove_category(self.category_id)

    def undo(self) -> None:
        if self._removed is None:
            raise UndoError("category delete was never applied")
        category, index = self._removed
        self.project.insert_category(category, index)


def object_count(project: Project, category_id: int) -> int:
    """How many objects (on all images) use ``category_id``."""
    return sum(1 for inst in project.iter_instances() if inst.category_id == category_id)


def remove_category_command(project: Project, category_id: int, move_to: int | None = None) -> UndoCommand:
    """One undoable step: the category's objects are moved to ``move_to`` (merge) or, with ``None``, deleted;
    then the category is removed. Raises ``ModelError`` for an unknown category or ``move_to`` equal to it."""
    category = project.category(category_id)
    if move_to is not None:
        if move_to == category_id:
            raise ModelError(f"cannot merge category {category.name!r} into itself")
        target = project.category(move_to)
    parts: list[UndoCommand] = []
    for record in project.images:
        for inst in record.instances:
            if inst.category_id != category_id:
                continue
            if move_to is None:
                parts.append(RemoveInstanceCommand(project, record.file_name, inst.id))
            else:
                parts.append(set_category_command(project, record.file_name, inst.id, move_to))
    text = (
        f"Delete category {category.name}" if move_to is None else f"Merge {category.name} into {target.name}"
    )
    parts.append(RemoveCategoryCommand(project, category_id, text))
    return MacroCommand(text, parts)
