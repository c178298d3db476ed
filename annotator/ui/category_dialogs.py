"""Category removal: delete a category (asking what happens to its objects) or merge it into another.

The dialog only asks; the step itself is ``annotator.core.category_ops.remove_category_command`` (undoable).
It is window-modal and opened with ``open()``: the answer arrives through ``finished``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.category_ops import object_count
from annotator.core.model import Project


class CategoryRemovalDialog(QDialog):
    """ "Delete category X": its N objects are deleted, or moved to the chosen category (merge)."""

    def __init__(
        self, project: Project, category_id: int, *, merge: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("category_removal")
        category = project.category(category_id)
        count = object_count(project, category_id)
        others = [c for c in project.categories if c.id != category_id]
        self.setWindowTitle(
            f"Merge category {category.name}" if merge else f"Delete category {category.name}"
        )
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                f"Category “{category.name}” is used by {count} object(s) in this project. You can undo this."
            )
        )
        self.delete_objects = QRadioButton("Delete its objects")
        self.move_objects = QRadioButton("Move its objects to:" if not merge else "Merge into:")
        self.target = QComboBox()
        for other in others:
            self.target.addItem(other.name, other.id)
        group = QButtonGroup(self)
        for button in (self.delete_objects, self.move_objects):
            group.addButton(button)
        if not merge:
            layout.addWidget(self.delete_objects)
        layout.addWidget(self.move_objects)
        layout.addWidget(self.target)
        (self.move_objects if merge or count else self.delete_objects).setChecked(True)
        if not others:
            self.move_objects.setEnabled(False)
            self.target.setEnabled(False)
            self.delete_objects.setChecked(True)
        self.move_objects.toggled.connect(self.target.setEnabled)
        self.target.setEnabled(self.move_objects.isChecked())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.buttons = buttons

    def move_to(self) -> int | None:
        """The category the objects go to, or ``None`` to delete them."""
        return int(self.target.currentData()) if self.move_objects.isChecked() else None


def ask_category_removal(
    parent: QWidget, project: Project, category_id: int, *, merge: bool, done: Callable[[int | None], None]
) -> CategoryRemovalDialog:
    """Open the dialog; on OK ``done(move_to)`` is called. Returns the open dialog."""
    dialog = CategoryRemovalDialog(project, category_id, merge=merge, parent=parent)
    dialog.accepted.connect(lambda: done(dialog.move_to()))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
