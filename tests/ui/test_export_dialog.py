"""Issue 12, finding 5 in the app: the export dialog offers the CLI's choices."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt

from annotator.core.masks import Mask
from annotator.ui.coco_dialogs import ExportOptionsDialog, export_report_text, export_with
from tests.ui.fakes import DiscSegmenter


def test_export_dialog_choices_reach_the_file(qtbot, make_window, image_folder, tmp_path) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    project = window.controller.project
    mask = np.zeros((120, 160), bool)
    mask[20:60, 30:90] = True
    mask[35:45, 50:60] = False  # a hole
    project.add_instance("a.png", project.new_instance(Mask.from_array(mask), project.categories[2].id))
    project.add_instance("a.png", project.new_instance(Mask.from_array(np.zeros_like(mask)), 1))
    dialog = ExportOptionsDialog(window, project)
    qtbot.addWidget(dialog)
    defaults = dialog.options()
    assert (defaults.mode, defaults.images, defaults.contiguous_ids) == ("auto", "annotated", False)
    dialog.images_box.setCurrentIndex(dialog.images_box.findData("all"))
    qtbot.mouseClick(dialog.contiguous_box, Qt.MouseButton.LeftButton)
    options = dialog.options()
    assert options.images == "all" and options.contiguous_ids
    out = tmp_path / "out.json"
    report = export_with(project, out, options)
    data = json.loads(out.read_text())
    assert [i["file_name"] for i in data["images"]] == ["a.png", "c.png"]  # the corrupt file never
    assert [c["id"] for c in data["categories"]] == list(range(1, len(project.categories) + 1))
    assert len(data["annotations"]) == 1 and isinstance(data["annotations"][0]["segmentation"], list)
    text = export_report_text(report)
    assert "empty mask, not written" in text and "b_corrupt.jpg" in text
