"""File > Import… (issue 14, item 2): a YOLO dataset detected, imported as one undo step, bad choices explained."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from annotator.ui.import_dialog import ImportDialog
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press


def _yolo(root):
    ds = root / "ds"
    (ds / "labels").mkdir(parents=True)
    (ds / "data.yaml").write_text("names: [car]\n")
    # a.png is 160 x 120: the square 16..48 x 12..36 in pixels
    (ds / "labels" / "a.txt").write_text("0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n")
    return ds


def test_import_dialog_detects_imports_and_one_ctrl_z_undoes(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    ds = _yolo(image_folder.parent)
    dialog = ImportDialog(window, c)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()
    qtbot.keyClicks(dialog.path_edit, str(ds))
    qtbot.waitUntil(lambda: dialog.status.text() == "Detected: YOLO")
    assert ok.isEnabled()
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    report = dialog.report
    assert report is not None and report.format == "yolo-seg" and report.annotations_imported == 1
    assert any("matched by stem" in m.message for m in report.messages)
    (instance,) = c.project.image("a.png").instances
    assert instance.mask.area > 0.9 * 32 * 24 and c.project.category(instance.category_id).name == "car"
    assert "Import ds" in window.actions_by_id["undo"].text()
    window.activateWindow()  # the dialog had the focus: window shortcuts need the main window active
    qtbot.waitUntil(window.isActiveWindow)
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not c.project.image("a.png").instances and c.project.category_by_name("car") is None


def test_import_dialog_explains_what_does_not_fit(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    ds = _yolo(image_folder.parent)
    empty = image_folder.parent / "empty"
    empty.mkdir()
    dialog = ImportDialog(window, window.controller)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.path_edit.setText(str(empty))
    qtbot.waitUntil(lambda: "no dataset recognised" in dialog.status.text())
    assert not ok.isEnabled()
    dialog.path_edit.setText(str(ds))
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("voc"))
    qtbot.waitUntil(ok.isEnabled)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "Import failed" in dialog.status.text()
    assert "not a VOC dataset" in dialog.status.text()
    assert not window.controller.project.image("a.png").instances
    assert "Import" not in window.actions_by_id["undo"].text()
