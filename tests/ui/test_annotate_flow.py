"""The core loop through real widgets: click -> worker -> mask -> Enter -> export COCO -> pycocotools."""

from __future__ import annotations

import numpy as np
from pycocotools.coco import COCO
from PySide6.QtCore import Qt

from annotator.core.coco import export_coco
from annotator.core.model import ImageStatus
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def _exported_masks(project, tmp_path) -> dict[str, list[np.ndarray]]:
    out = tmp_path / "export.json"
    export_coco(project, out)
    coco = COCO(str(out))
    masks: dict[str, list[np.ndarray]] = {}
    for image in coco.dataset["images"]:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        masks[image["file_name"]] = [coco.annToMask(a).astype(bool) for a in anns]
    return masks


def test_click_accept_export_with_fake_engine(qtbot, make_window, image_folder, tmp_path) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=12))
    c = window.controller
    assert c.current_key == "a.png"
    click_image(qtbot, window, 60, 50)
    live = c.live_mask()
    assert live is not None and live[50, 60] and not live[5, 5]
    assert window.canvas.live_layer.labels is not None
    shown = live.copy()
    press(window, Qt.Key.Key_Return)
    assert c.live_mask() is None
    instances = c.project.image("a.png").instances
    assert len(instances) == 1
    assert c.project.image("a.png").status is ImageStatus.IN_PROGRESS
    exported = _exported_masks(c.project, tmp_path)
    assert len(exported["a.png"]) == 1
    assert np.array_equal(exported["a.png"][0], shown)


def test_prompts_and_accept_undo_redo(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    click_image(qtbot, window, 40, 40)
    click_image(qtbot, window, 80, 60)
    assert len(c.prompt_state.points) == 2
    with qtbot.waitSignal(c.client.decoded, timeout=10000):
        press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(c.prompt_state.points) == 1
    assert c.live_mask()[40, 40]
    with qtbot.waitSignal(c.client.decoded, timeout=10000):
        press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(c.prompt_state.points) == 2
    assert c.live_mask()[60, 80]
    press(window, Qt.Key.Key_Return)
    assert len(c.current_instances()) == 1 and c.prompt_state.is_empty
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(c.current_instances()) == 0 and len(c.prompt_state.points) == 2
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(c.current_instances()) == 1 and c.prompt_state.is_empty
    click_image(qtbot, window, 20, 20)
    press(window, Qt.Key.Key_Escape)
    assert c.prompt_state.is_empty and c.live_mask() is None


def test_negative_point_by_right_click_and_shift_click(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    click_image(qtbot, window, 40, 40)
    click_image(qtbot, window, 70, 40, button=Qt.MouseButton.RightButton)
    click_image(qtbot, window, 90, 40, modifier=Qt.KeyboardModifier.ShiftModifier)
    assert [p.label for p in c.prompt_state.points] == [1, 0, 0]
    assert c.prompt_state.points[1].x == __import__("pytest").approx(70, abs=1.5)
