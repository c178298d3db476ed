"""The file list: every image of the folder with its state (not started, in progress, done, error)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from annotator.core.model import ImageRecord
from annotator.ui.icons import STATUS_TEXT, status_icon


class FileList(QListWidget):
    """Shows image records; emits ``image_chosen(key)`` when the user picks one."""

    image_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setUniformItemSizes(True)
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)
        self._rows: dict[str, QListWidgetItem] = {}

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

    def set_current(self, key: str) -> None:
        item = self._rows.get(key)
        if item is not None:
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.blockSignals(False)

    def _activated(self, item: QListWidgetItem) -> None:
        self.image_chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))
