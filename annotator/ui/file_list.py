"""The file list: every image of the folder with its state (not started, in progress, done, error)."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from annotator.core.model import ImageRecord
from annotator.ui.icons import STATUS_TEXT, status_icon

EXTEND_MODIFIERS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


class FileList(QListWidget):
    """Shows image records; emits ``image_chosen(key)`` when the user picks one.

    A plain click (or Enter, double-click) opens an image; Ctrl+click and Shift+click only extend the
    selection, which commands such as "Find similar in selected images" read (:meth:`selected_keys`).
    """

    image_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)
        self._rows: dict[str, QListWidgetItem] = {}
        self._extending = False  # the last press held Ctrl or Shift

    def set_records(self, records: tuple[ImageRecord, ...]) -> None:
        """Rebuild the list from the project's records."""
        self.clear()
        self._rows.clear()
        for record in records:
            item = QListWidgetItem(record.file_name)
            item.setData(Qt.ItemDataRole.UserRole, record.file_name)
            self.addItem(item)
            self._rows[record.file_name] = item
            self.update_record(record)

    def update_record(self, record: ImageRecord) -> None:
        """Refresh one row's icon and tooltip from its record."""
        item = self._rows.get(record.file_name)
        if item is None:
            return
        item.setIcon(status_icon(record.status))
        tip = f"{record.file_name}: {STATUS_TEXT[record.status]}, {len(record.instances)} object(s)"
        if record.error:
            tip += f"\n{record.error}"
        item.setToolTip(tip)

    def status_text(self, key: str) -> str:
        """The tooltip of ``key``'s row (tests read the state through it)."""
        item = self._rows.get(key)
        return "" if item is None else item.toolTip()

    def selected_keys(self) -> list[str]:
        """Keys of the selected rows, in list order."""
        rows = sorted(self.row(item) for item in self.selectedItems())
        return [str(self.item(row).data(Qt.ItemDataRole.UserRole)) for row in rows]

    def set_current(self, key: str) -> None:
        """Mark ``key`` as the open image; a selection of several images is kept."""
        item = self._rows.get(key)
        if item is not None:
            keep = len(self.selectedItems()) > 1
            flag = QItemSelectionModel.SelectionFlag
            self.blockSignals(True)
            self.setCurrentItem(item, flag.NoUpdate if keep else flag.ClearAndSelect)
            self.blockSignals(False)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._extending = bool(event.modifiers() & EXTEND_MODIFIERS)
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._extending = bool(event.modifiers() & EXTEND_MODIFIERS)
        super().keyPressEvent(event)

    def _activated(self, item: QListWidgetItem) -> None:
        if self._extending:
            return  # Ctrl/Shift: extending the selection, not opening an image
        self.image_chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
