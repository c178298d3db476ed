"""Side panels: categories (add, rename, recolour, pick) and the instances of the current image."""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import Category, Instance
from annotator.ui.icons import swatch


class CategoryPanel(QWidget):
    """The category list. Emits intents; the main window turns them into undoable commands.

    Signals: category_picked(int id), add_requested(str name), rename_requested(int id, str name),
    recolor_requested(int id, tuple rgb), delete_requested(int id), merge_requested(int id).
    """

    category_picked = Signal(int)
    add_requested = Signal(str)
    rename_requested = Signal(int, str)
    recolor_requested = Signal(int, object)
    delete_requested = Signal(int)
    merge_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemDoubleClicked.connect(lambda _item: self.rename_current())
        add, rename, color = QPushButton("Add…"), QPushButton("Rename…"), QPushButton("Colour…")
        add.clicked.connect(self.ask_add)
        rename.clicked.connect(self.rename_current)
        color.clicked.connect(self.recolor_current)
        delete, merge = QPushButton("Delete…"), QPushButton("Merge…")
        delete.setObjectName("delete_category")
        merge.setObjectName("merge_category")
        delete.clicked.connect(lambda: self._emit_current(self.delete_requested))
        merge.clicked.connect(lambda: self._emit_current(self.merge_requested))
        buttons = QHBoxLayout()
        for b in (add, rename, color):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        more = QHBoxLayout()
        for b in (delete, merge):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            more.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addLayout(more)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def set_categories(self, categories: tuple[Category, ...], current: int | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for i, category in enumerate(categories):
            prefix = f"{i + 1}  " if i < 9 else "    "
            item = QListWidgetItem(swatch(category.color), f"{prefix}{category.name}")
            item.setData(Qt.ItemDataRole.UserRole, category.id)
            item.setData(Qt.ItemDataRole.UserRole + 1, category.color)
            self.list.addItem(item)
            if category.id == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def ask_add(self) -> None:
        name, ok = QInputDialog.getText(self, "Add category", "Name:")
        if ok and name.strip():
            self.add_requested.emit(name.strip())

    def rename_current(self) -> None:
        cid = self.current_id()
        if cid is None:
            return
        old = self.list.currentItem().text().strip().split("  ", 1)[-1]
        name, ok = QInputDialog.getText(self, "Rename category", "Name:", text=old)
        if ok and name.strip():
            self.rename_requested.emit(cid, name.strip())

    def recolor_current(self) -> None:
        cid = self.current_id()
        if cid is None:
            return
        r, g, b = self.list.currentItem().data(Qt.ItemDataRole.UserRole + 1)  # start on the current colour
        color = QColorDialog.getColor(QColor(r, g, b), self, "Category colour")
        if color.isValid():
            self.recolor_requested.emit(cid, (color.red(), color.green(), color.blue()))

    def _emit_current(self, signal: object) -> None:
        cid = self.current_id()
        if cid is not None:
            signal.emit(cid)  # type: ignore[attr-defined]

    def _picked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            self.category_picked.emit(int(item.data(Qt.ItemDataRole.UserRole)))


class _Row(NamedTuple):
    """What one row of the objects list shows."""

    instance_id: int
    text: str
    color: tuple[int, int, int] | None
    hidden: bool


class InstancePanel(QWidget):
    """The objects of the current image: select, hide (checkbox), change category, delete.

    Signals: selected(object id or None), hidden_toggled(int id, bool hidden), delete_requested(int id),
    category_requested(int id, int category id).
    """

    selected = Signal(object)
    hidden_toggled = Signal(int, bool)
    delete_requested = Signal(int)
    category_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # One row's change must not make the view measure every row again (issue 15: 2,000 objects).
        self.list.setUniformItemSizes(True)
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemChanged.connect(self._checked)
        self._category_of: dict[int, int] = {}
        self._rows: list[_Row] = []  # what each list row shows, in row order
        self._items: dict[int, QListWidgetItem] = {}  # instance id -> its row's item
        self._categories: tuple[Category, ...] | None = None
        self._row_cache: dict[int, tuple[Instance, Category | None, _Row]] = {}
        self._last: tuple[tuple[Instance, ...], tuple[Category, ...], int | None] | None = None
        self.rows_built = 0  # rows (re)filled so far: tests check that one change fills one row
        self.category_box = QComboBox()
        self.category_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.category_box.setToolTip("Category of the selected object")
        self.category_box.activated.connect(self._category_chosen)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.delete_button.setToolTip("Delete the selected object")
        self.delete_button.clicked.connect(self._delete)
        row = QHBoxLayout()
        row.addWidget(self.category_box, 1)
        row.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(row)

    def set_instances(
        self, instances: tuple[Instance, ...], categories: tuple[Category, ...], selected: int | None
    ) -> None:
        """Show ``instances`` (in order) with ``selected`` current. Only the rows whose object changed are
        rebuilt, so one change costs the same with 2,000 objects as with two (issue 15)."""
        if self._last == (instances, categories, selected) and self._current() == selected:
            return  # the same objects again (selection and instance refreshes both ask): nothing to do
        self._last = (instances, categories, selected)
        names = {c.id: c for c in categories}
        self._category_of = {inst.id: inst.category_id for inst in instances}
        self.list.blockSignals(True)
        cache, rows = self._row_cache, []
        for inst in instances:
            category = names.get(inst.category_id)
            known = cache.get(inst.id)
            if known is None or known[0] is not inst or known[1] is not category:
                known = (inst, category, self._row_of(inst, category))
                cache[inst.id] = known
            rows.append(known[2])
        if len(cache) > 2 * len(instances) + 64:
            self._row_cache = {inst.id: cache[inst.id] for inst in instances}
        self._sync_rows(rows)
        current = self._items.get(selected) if selected is not None else None
        if current is not self.list.currentItem():
            self.list.setCurrentItem(current)  # type: ignore[arg-type]  # None clears it (no stub for that)
        self.list.blockSignals(False)
        if categories != self._categories:
            self._categories = categories
            self.category_box.clear()
            for category in categories:
                self.category_box.addItem(swatch(category.color), category.name, category.id)
        self._sync_controls()

    # --- one object at a time (issue 15): no pass over the other rows ----------------------------------------
    def insert_instance(self, index: int, inst: Instance, category: Category | None) -> None:
        """Show the new object ``inst`` at row ``index`` (its drawing position)."""
        if inst.id in self._items:
            self.update_instance(inst, category)
            return
        self._last = None
        row = self._row_of(inst, category)
        self._row_cache[inst.id] = (inst, category, row)
        self._category_of[inst.id] = inst.category_id
        index = min(max(index, 0), len(self._rows))
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, inst.id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        self._fill(item, row)
        self.list.blockSignals(True)
        self.list.insertItem(index, item)
        self.list.blockSignals(False)
        self._items[inst.id] = item
        self._rows.insert(index, row)

    def remove_instance(self, instance_id: int) -> None:
        """Drop the row of the object ``instance_id``."""
        item = self._items.pop(instance_id, None)
        if item is None:
            return
        self._last = None
        index = self.list.row(item)
        self.list.blockSignals(True)
        self.list.takeItem(index)
        self.list.blockSignals(False)
        del self._rows[index]
        self._row_cache.pop(instance_id, None)
        self._category_of.pop(instance_id, None)
        self._sync_controls()

    def update_instance(self, inst: Instance, category: Category | None) -> None:
        """Refill the row of ``inst`` (its category, visibility or mask changed)."""
        item = self._items.get(inst.id)
        if item is None:
            return
        self._last = None
        row = self._row_of(inst, category)
        self._row_cache[inst.id] = (inst, category, row)
        self._category_of[inst.id] = inst.category_id
        index = self.list.row(item)
        if self._rows[index] != row:
            self.list.blockSignals(True)
            self._fill(item, row)
            self.list.blockSignals(False)
            self._rows[index] = row
        if self._current() == inst.id:
            self._sync_controls()

    def set_selected(self, instance_id: int | None) -> None:
        """Make the row of ``instance_id`` current (``None``: none)."""
        current = self._items.get(instance_id) if instance_id is not None else None
        if current is not self.list.currentItem():
            self._last = None
            self.list.blockSignals(True)
            self.list.setCurrentItem(current)  # type: ignore[arg-type]  # None clears it (no stub for that)
            self.list.blockSignals(False)
            self._sync_controls()

    @staticmethod
    def _row_of(inst: Instance, category: Category | None) -> _Row:
        label = category.name if category else f"category {inst.category_id}"
        score = f"  IoU {inst.score:.2f}" if inst.score is not None else ""
        return _Row(
            inst.id,
            f"#{inst.id} {label} · {inst.mask.area} px{score}",
            category.color if category else None,
            inst.hidden,
        )

    def _sync_rows(self, rows: list[_Row]) -> None:
        """Make the list show ``rows``: remove the rows of objects gone, insert new ones where they belong
        and update the rows whose text, colour or visibility changed; untouched rows are not rebuilt."""
        wanted = {row.instance_id for row in rows}
        for index in range(len(self._rows) - 1, -1, -1):
            if self._rows[index].instance_id not in wanted:
                self.list.takeItem(index)
                del self._items[self._rows[index].instance_id]
                del self._rows[index]
        for index, row in enumerate(rows):
            shown = self._rows[index] if index < len(self._rows) else None
            if shown is not None and shown.instance_id == row.instance_id:
                if shown != row:
                    self._fill(self._items[row.instance_id], row)
                    self._rows[index] = row
                continue
            if row.instance_id in self._items:  # moved (an undo restored its old place): take it out first
                old = self._rows.index(next(r for r in self._rows if r.instance_id == row.instance_id))
                self.list.takeItem(old)
                del self._rows[old]
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, row.instance_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            self._fill(item, row)
            self.list.insertItem(index, item)
            self._items[row.instance_id] = item
            self._rows.insert(index, row)

    def _fill(self, item: QListWidgetItem, row: _Row) -> None:
        item.setText(row.text)
        item.setIcon(swatch(row.color) if row.color is not None else QIcon())
        item.setCheckState(Qt.CheckState.Unchecked if row.hidden else Qt.CheckState.Checked)
        self.rows_built += 1

    def _sync_controls(self) -> None:
        """The category box shows the selected object's category; both controls are off without a selection."""
        iid = self._current()
        self.category_box.setEnabled(iid is not None)
        self.delete_button.setEnabled(iid is not None)
        index = -1 if iid is None else self.category_box.findData(self._category_of.get(iid))
        self.category_box.setCurrentIndex(index)

    def add_context_actions(self, actions: list[QAction]) -> None:
        """Offer ``actions`` on right-click in the list (the right-click first selects the object)."""
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.list.addActions(actions)

    def _current(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _picked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self._sync_controls()
        self.selected.emit(None if item is None else int(item.data(Qt.ItemDataRole.UserRole)))

    def _checked(self, item: QListWidgetItem) -> None:
        hidden = item.checkState() != Qt.CheckState.Checked
        self.hidden_toggled.emit(int(item.data(Qt.ItemDataRole.UserRole)), hidden)

    def _delete(self) -> None:
        iid = self._current()
        if iid is not None:
            self.delete_requested.emit(iid)

    def _category_chosen(self, index: int) -> None:
        iid = self._current()
        if iid is not None and index >= 0:
            self.category_requested.emit(iid, int(self.category_box.itemData(index)))
