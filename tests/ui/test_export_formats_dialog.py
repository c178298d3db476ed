"""Issue 14: File > Export… offers every format in one dialog and writes in the background with progress,
ending with a box that lists what the format could not express."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QPushButton

from annotator.core.formats.export import EXPORT_FORMATS
from annotator.core.masks import Mask
from annotator.ui import export_dialog
from annotator.ui.export_dialog import ExportDialog, make_export_runner, start_export
from tests.ui.fakes import DiscSegmenter


def _project_with_objects(window):
    project = window.controller.project
    ring = np.zeros((120, 160), bool)
    ring[20:60, 30:90] = True
    ring[35:45, 50:60] = False  # a hole: labelme cannot say so
    project.add_instance("a.png", project.new_instance(Mask.from_array(ring), project.categories[0].id))
    crowd = np.zeros_like(ring)
    crowd[80:90, 10:20] = True
    project.add_instance(
        "a.png", project.new_instance(Mask.from_array(crowd), project.categories[0].id, iscrowd=1)
    )
    return project


def test_dialog_exports_labelme_in_the_background(qtbot, make_window, image_folder, tmp_path) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    project = _project_with_objects(window)
    dialog = ExportDialog(window, project)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert [dialog.format_box.itemData(i) for i in range(dialog.format_box.count())] == list(EXPORT_FORMATS)
    assert dialog.format == "coco" and dialog.mode_box.isEnabled() and not dialog.copy_box.isEnabled()
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("labelme"))
    assert not dialog.mode_box.isEnabled() and not dialog.val_box.isEnabled() and dialog.copy_box.isEnabled()
    qtbot.mouseClick(dialog.copy_box, Qt.MouseButton.LeftButton)
    out = tmp_path / "labelme"
    dialog.path_edit.setText(str(out))
    options = dialog.options()
    assert (options.format, options.image_mode, options.val_fraction) == ("labelme", "copy", 0.0)
    runner = make_export_runner(window)
    with qtbot.waitSignal(runner.finished, timeout=30000) as blocker:
        assert start_export(window, runner, dialog.path(), options)
        assert window.findChild(QProgressDialog, "export_progress") is not None
    report, error, cancelled = blocker.args
    assert not error and not cancelled and report.images == 1
    assert (out / "a.json").exists() and not (out / "a.png").is_symlink()
    box = window.findChild(QMessageBox, "export_result")
    assert box is not None and "labelme: 1 images" in box.text()
    details = box.detailedText()
    assert "hole(s) filled" in details and "a crowd region" in details and "b_corrupt.jpg" in details
    box.close()
    qtbot.waitUntil(lambda: window.findChild(QProgressDialog, "export_progress") is None)
    assert not runner.running


def test_cancel_stops_the_export(qtbot, make_window, image_folder, tmp_path, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    _project_with_objects(window)
    real = export_dialog.export_dataset

    def slow_export(selection, out, options, *, progress=None, cancel=None):
        assert cancel is not None and cancel.wait(20)  # a long export: still running when Cancel is clicked
        return real(selection, out, options, progress=progress, cancel=cancel)

    monkeypatch.setattr(export_dialog, "export_dataset", slow_export)
    dialog = ExportDialog(window, window.controller.project)
    qtbot.addWidget(dialog)
    dialog.format_box.setCurrentIndex(dialog.format_box.findData("voc"))
    runner = make_export_runner(window)
    with qtbot.waitSignal(runner.finished, timeout=30000) as blocker:
        assert start_export(window, runner, tmp_path / "voc", dialog.options())
        progress = window.findChild(QProgressDialog, "export_progress")
        qtbot.mouseClick(progress.findChild(QPushButton), Qt.MouseButton.LeftButton)
    _report, error, cancelled = blocker.args
    assert cancelled and not error and not (tmp_path / "voc" / "Annotations").exists()
    box = window.findChild(QMessageBox, "export_result")
    assert box is not None and "cancelled" in box.text()
    box.close()


def test_coco_choices_of_the_dialog_reach_the_file(qtbot, make_window, image_folder, tmp_path) -> None:
    """Issue 12, finding 5 in the app: which images, category ids, holes as polygons, empty masks reported."""
    window = make_window(image_folder, segmenter=DiscSegmenter())
    project = window.controller.project
    mask = np.zeros((120, 160), bool)
    mask[20:60, 30:90] = True
    mask[35:45, 50:60] = False  # a hole
    project.add_instance("a.png", project.new_instance(Mask.from_array(mask), project.categories[2].id))
    project.add_instance("a.png", project.new_instance(Mask.from_array(np.zeros_like(mask)), 1))
    dialog = ExportDialog(window, project)
    qtbot.addWidget(dialog)
    defaults = dialog.options()
    assert (defaults.format, defaults.images, defaults.contiguous_ids) == ("coco", "annotated", False)
    dialog.images_box.setCurrentIndex(dialog.images_box.findData("all"))
    qtbot.mouseClick(dialog.contiguous_box, Qt.MouseButton.LeftButton)
    out = tmp_path / "out.json"
    dialog.path_edit.setText(str(out))
    options = dialog.options()
    assert options.images == "all" and options.contiguous_ids
    runner = make_export_runner(window)
    with qtbot.waitSignal(runner.finished, timeout=30000) as blocker:
        assert start_export(window, runner, dialog.path(), options)
    report, error, cancelled = blocker.args
    assert report.images == 2
    assert not error and not cancelled
    data = json.loads(out.read_text())
    assert [i["file_name"] for i in data["images"]] == ["a.png", "c.png"]  # the corrupt file never
    assert [c["id"] for c in data["categories"]] == list(range(1, len(project.categories) + 1))
    assert len(data["annotations"]) == 1 and isinstance(data["annotations"][0]["segmentation"], list)
    box = window.findChild(QMessageBox, "export_result")
    assert box is not None
    details = box.detailedText()
    assert "empty mask" in details and "b_corrupt.jpg" in details
    box.close()
