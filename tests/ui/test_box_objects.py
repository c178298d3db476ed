"""Issue 12, finding 6 in the app: a box-only object is shown, exportable, and can become a mask later."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from annotator.core.coco import build_coco
from annotator.ui.import_dialog import import_dataset_into
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press


def test_a_box_only_object_becomes_a_mask_with_its_box_as_prompt(qtbot, make_window, image_folder) -> None:
    segmenter = DiscSegmenter(radius=10)
    window = make_window(image_folder, segmenter=segmenter)
    c = window.controller
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 160, "height": 120}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [40, 30, 40, 30]}],
    }
    path = image_folder.parent / "boxes.json"
    path.write_text(json.dumps(data))
    import_dataset_into(c, path, "coco")
    (box_object,) = c.current_instances()
    assert box_object.box == (40.0, 30.0, 40.0, 30.0)
    labels = c.instance_layers().labels
    assert labels is not None and labels[45, 60] and not labels[10, 10]  # shown
    assert "segmentation" not in build_coco(c.project)[0]["annotations"][0]  # exported as a box
    c.select_instance(box_object.id)
    with qtbot.waitSignal(c.client.decoded, timeout=10000):
        press(window, Qt.Key.Key_S)
    assert segmenter.calls[-1]["mask_input"] is None  # the box's pixels are not a shape to refine
    assert list(segmenter.calls[-1]["box"]) == [40.0, 30.0, 80.0, 60.0]
    press(window, Qt.Key.Key_Return)
    converted = c.project.image("a.png").instance(box_object.id)
    assert converted.box is None and converted.mask.array()[45, 60] and not converted.mask.array()[30, 40]
    assert isinstance(build_coco(c.project)[0]["annotations"][0]["segmentation"], list)
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.project.image("a.png").instance(box_object.id).box is not None
