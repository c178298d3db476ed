"""Issue 12, finding 4 in the app: an import is one Ctrl+Z, and importing again adds nothing."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from annotator.ui.import_dialog import import_dataset_into
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press


def test_one_ctrl_z_removes_a_whole_import(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    square = [10.0, 10.0, 30.0, 10.0, 30.0, 25.0, 10.0, 25.0]
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 160, "height": 120},
            {"id": 2, "file_name": "c.png", "width": 140, "height": 100},
        ],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [square]},
            {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [square]},
        ],
    }
    path = image_folder.parent / "in.json"
    path.write_text(json.dumps(data))
    before = c.project.categories
    report = import_dataset_into(c, path, "coco")
    assert report.annotations_imported == 2 and c.project.category(1).name == "car"
    assert "Import in.json" in window.actions_by_id["undo"].text()
    again = import_dataset_into(c, path, "coco")
    assert again.annotations_imported == 0 and again.annotations_duplicate == 2
    assert "Import in.json" in window.actions_by_id["undo"].text()
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not c.project.image("a.png").instances and not c.project.image("c.png").instances
    assert c.project.categories == before
    assert "Import in.json" in window.notice_label.text()
    assert window.category_panel.list.count() == len(before)
