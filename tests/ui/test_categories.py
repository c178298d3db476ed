"""Categories (issue 13, item 6): delete (what happens to the objects is asked, undoable) and merge; new
categories get distinct colours; the colour dialog starts on the current colour; the shortcut list fits."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QColorDialog, QPushButton

from annotator.core.colors import MIN_DISTANCE, distinct_color
from annotator.core.records import PALETTE
from annotator.ui.shortcuts_dialog import ShortcutsDialog
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def _accept_object(qtbot, window, x, y) -> None:
    click_image(qtbot, window, x, y)
    press(window, Qt.Key.Key_Return)


def _press_panel_button(qtbot, window, name: str) -> None:
    button = window.category_panel.findChild(QPushButton, name)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _pick_category(window, category_id: int) -> None:
    panel = window.category_panel
    for row in range(panel.list.count()):
        if panel.list.item(row).data(Qt.ItemDataRole.UserRole) == category_id:
            panel.list.setCurrentRow(row)


def _ok(qtbot, dialog) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def test_delete_category_with_its_objects_and_undo(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    second = c.project.categories[1]
    _pick_category(window, second.id)
    _accept_object(qtbot, window, 40, 40)
    assert c.current_instances()[0].category_id == second.id
    order = [cat.id for cat in c.project.categories]
    _pick_category(window, second.id)
    _press_panel_button(qtbot, window, "delete_category")
    dialog = window.category_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    assert dialog.move_objects.isChecked()  # objects in use: moving them is offered first
    radio = dialog.delete_objects  # click on its indicator (the text ends well before the row does)
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))
    assert radio.isChecked()
    _ok(qtbot, dialog)
    assert not c.project.has_category(second.id) and c.current_instances() == ()
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [cat.id for cat in c.project.categories] == order
    assert c.current_instances()[0].category_id == second.id
    assert window.category_panel.list.count() == len(order)


def test_merge_category_moves_its_objects(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    second, third = c.project.categories[1:3]
    _pick_category(window, second.id)
    _accept_object(qtbot, window, 40, 40)
    _pick_category(window, second.id)
    _press_panel_button(qtbot, window, "merge_category")
    dialog = window.category_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    dialog.target.setCurrentIndex(dialog.target.findData(third.id))
    _ok(qtbot, dialog)
    assert not c.project.has_category(second.id)
    assert c.current_instances()[0].category_id == third.id
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.current_instances()[0].category_id == second.id


def test_new_categories_get_distinct_colours(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    project = window.controller.project
    for name in ("car", "tree", "sky", "road"):
        window.add_category(name)
    colors = [cat.color for cat in project.categories]
    for i, a in enumerate(colors):
        for b in colors[i + 1 :]:
            assert sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5 >= MIN_DISTANCE / 2, colors


def test_distinct_color_beyond_the_palette() -> None:
    used = list(PALETTE)
    color = distinct_color(used, 0)
    assert color not in used
    assert distinct_color([], 3) == PALETTE[3]


def test_colour_dialog_starts_on_the_current_colour(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    category = window.controller.project.categories[1]
    _pick_category(window, category.id)
    seen = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QColorDialog):
            QTimer.singleShot(20, answer)
            return
        seen.append(dialog.currentColor().getRgb()[:3])
        dialog.reject()

    QTimer.singleShot(0, answer)
    window.category_panel.recolor_current()
    assert seen == [category.color]


def test_shortcut_list_fits_the_screen_and_scrolls(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    press(window, Qt.Key.Key_F1)
    dialog = window.findChild(ShortcutsDialog)
    qtbot.waitUntil(lambda: dialog is not None and dialog.isVisible(), timeout=5000)
    available = dialog.screen().availableGeometry()
    assert dialog.frameGeometry().height() <= available.height()
    assert dialog.buttons.isVisible()
    dialog.resize(dialog.width(), 300)  # a small screen: the list scrolls, the OK button stays
    qtbot.waitUntil(lambda: dialog.browser.verticalScrollBar().maximum() > 0, timeout=5000)
    _ok(qtbot, dialog)
    assert not dialog.isVisible()
