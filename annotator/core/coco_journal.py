"""One COCO import as one undoable step: the journal of what it changed, and its undo command.

:class:`ImportJournal` makes the changes of an import (new categories, categories renumbered out of the file's
way, new instances) through ``Project`` methods and records them, so :meth:`ImportJournal.undo` and
:meth:`ImportJournal.redo` replay them backwards and forwards (one ``reset`` event each). Image records an
import added stay on undo: they describe files in the folder and carry no annotation of their own.
:class:`ImportCocoCommand` runs :func:`~annotator.core.coco_import.import_coco` on first ``redo`` (ADR 0008).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from annotator.core.errors import ModelError, UndoError
from annotator.core.model import RGB, Category, Instance, Project
from annotator.core.undo import UndoCommand

if TYPE_CHECKING:
    from annotator.core.coco_import import ImportReport


class ImportJournal:
    """The project changes of one import, in the order they were made."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._ops: list[tuple] = []

    def __len__(self) -> int:
        return len(self._ops)

    def add_category(self, name: str, color: RGB | None, supercategory: str, id: int | None) -> Category:
        category = self.project.add_category(name, color, supercategory, id=id)
        index = list(c.id for c in self.project.categories).index(category.id)
        self._ops.append(("category", category, index))
        return category

    def renumber_category(self, category_id: int, new_id: int | None = None) -> Category:
        """Give an unused category another id (``None``: a fresh one) at the same place in the order.

        ``ModelError`` (nothing changed) when ``new_id`` is negative or taken."""
        if new_id is not None and (new_id < 0 or self.project.has_category(new_id)):
            raise ModelError(f"category id {new_id} is already used or negative")
        old, index = self.project.remove_category(category_id)
        cid = self.project.reserve_category_id() if new_id is None else new_id
        new = Category(cid, old.name, old.color, old.supercategory)
        self.project.insert_category(new, index)
        self._ops.append(("renumber", old, new, index))
        return new

    def add_instance(self, key: str, instance: Instance) -> None:
        self.project.add_instance(key, instance)
        self._ops.append(("instance", key, instance))

    def undo(self) -> None:
        """Revert every change (newest first); one ``reset`` event."""
        project = self.project
        with project.events.blocked():
            for op in reversed(self._ops):
                if op[0] == "instance":
                    project.remove_instance(op[1], op[2].id)
                elif op[0] == "category":
                    project.remove_category(op[1].id)
                else:
                    _kind, old, new, index = op
                    project.remove_category(new.id)
                    project.insert_category(old, index)
        project.emit_reset()

    def redo(self) -> None:
        """Apply every change again (oldest first); one ``reset`` event."""
        project = self.project
        with project.events.blocked():
            for op in self._ops:
                if op[0] == "instance":
                    project.add_instance(op[1], op[2])
                elif op[0] == "category":
                    project.insert_category(op[1], op[2])
                else:
                    _kind, old, new, index = op
                    project.remove_category(old.id)
                    project.insert_category(new, index)
        project.emit_reset()


class ImportCocoCommand(UndoCommand):
    """Import a COCO file as one undo step (project-wide: ``image_key`` is ``None``).

    The first ``redo`` reads the file (raising :class:`~annotator.core.errors.CocoError` if it is not a COCO
    dataset, so nothing is pushed); ``report`` then holds the :class:`ImportReport`.
    """

    def __init__(self, project: Project, path: str | Path) -> None:
        self.project, self.path = project, Path(path)
        self.text = f"Import {self.path.name}"
        self.report: ImportReport | None = None

    def redo(self) -> None:
        if self.report is None:
            from annotator.core.coco_import import import_coco

            self.report = import_coco(self.project, self.path)
        else:
            self._journal().redo()

    def undo(self) -> None:
        if self.report is not None:
            self._journal().undo()

    def _journal(self) -> ImportJournal:
        if self.report is None or self.report.journal is None:
            raise UndoError(f"the import of {self.path} was never applied")
        return self.report.journal
