"""Tools > Boxes to masks (issue 14 item 3, issue 12 item 6): imported boxes become proposals in the review
queue; accept turns a box object into a mask object, undo restores the box; cancel stops the run."""

from __future__ import annotations

import json
import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from annotator.core.review_proposal import ProposalState
from annotator.ui.import_dialog import import_dataset_into
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def import_boxes(window, folder) -> None:
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 160, "height": 120},
            {"id": 2, "file_name": "c.png", "width": 140, "height": 100},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bike"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 20, 40, 30]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [100, 60, 40, 40]},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [10, 10, 50, 50]},
        ],
    }
    path = folder.parent / "boxes.json"
    path.write_text(json.dumps(data))
    import_dataset_into(window.controller, path, "coco")


def box_window(make_window, image_folder, worker_segmenter: DiscSegmenter):
    window = make_window(image_folder, segmenter=DiscSegmenter())
    import_boxes(window, image_folder)
    window.boxes_to_masks.runner.make_segmenter = lambda _request: worker_segmenter
    return window


def test_boxes_become_proposals_accept_makes_a_mask_object_undo_restores_the_box(
    qtbot, make_window, image_folder
) -> None:
    worker_segmenter = DiscSegmenter(radius=8)
    window = box_window(make_window, image_folder, worker_segmenter)
    c, command, queue = window.controller, window.boxes_to_masks, window.review.queue
    asked = []

    def choose_all(_window, current, total):
        asked.append((current, total))
        return "all"

    command.ask_scope = choose_all
    with qtbot.waitSignal(command.runner.finished, timeout=30000) as blocker:
        press(window, Qt.Key.Key_B, CTRL_SHIFT)  # Tools > Boxes to masks…
    assert blocker.args == [False, ""] and asked == [(2, 3)]
    assert [call["box"].tolist() for call in worker_segmenter.calls if call["box"] is not None] == [
        [20.0, 20.0, 60.0, 50.0],
        [100.0, 60.0, 140.0, 100.0],
        [10.0, 10.0, 60.0, 60.0],
    ]
    assert command.progress_dialog is None and "Press R to review" in window.statusBar().currentMessage()
    proposals = queue.proposals("a.png")
    assert len(proposals) == 2 and all(p.is_pending and p.source == "box-classic" for p in proposals)
    assert len(queue.proposals("c.png")) == 1
    boxes = {i.id: i for i in c.current_instances()}
    assert all(i.box is not None for i in boxes.values())

    press(window, Qt.Key.Key_R)
    assert window.review.active
    current = queue.current()
    target = current.box_instance
    assert target in boxes and current.category_id == boxes[target].category_id
    press(window, Qt.Key.Key_Return)  # accept: the box object becomes a mask object
    converted = c.project.image("a.png").instance(target)
    assert converted.box is None and converted.category_id == boxes[target].category_id
    assert converted.mask == current.mask and len(c.current_instances()) == 2
    assert [p.state for p in queue.proposals("a.png")].count(ProposalState.ACCEPTED) == 1

    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    restored = c.project.image("a.png").instance(target)
    assert restored.box == boxes[target].box and restored.mask == boxes[target].mask
    assert all(p.is_pending for p in queue.proposals("a.png"))

    press(window, Qt.Key.Key_X)  # reject keeps the box
    assert c.project.image("a.png").instance(target).box is not None
    press(window, Qt.Key.Key_Escape)
    assert not window.review.active


def test_cancel_stops_the_run(qtbot, make_window, image_folder) -> None:
    worker_segmenter = DiscSegmenter(radius=8)
    gate = worker_segmenter.encode_gate = threading.Event()
    window = box_window(make_window, image_folder, worker_segmenter)
    command = window.boxes_to_masks
    command.ask_scope = lambda _w, _current, _total: "all"
    with qtbot.waitSignal(command.runner.progress, timeout=10000):
        window.actions_by_id["boxes_to_masks"].trigger()
    dialog = command.progress_dialog
    assert dialog is not None and dialog.isVisible() and command.runner.running
    with qtbot.waitSignal(command.runner.finished, timeout=30000) as blocker:
        dialog.findChild(QPushButton).click()  # Cancel
        gate.set()
    assert blocker.args == [True, ""]
    assert not command.runner.running and command.progress_dialog is None
    total = sum(len(window.review.queue.proposals(k)) for k in ("a.png", "c.png"))
    assert total < 3  # stopped before the last box
    assert "cancelled" in window.statusBar().currentMessage()


def test_no_boxes_says_where_they_come_from(qtbot, make_window, image_folder, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    shown = []
    monkeypatch.setattr(
        "annotator.ui.boxes_to_masks.QMessageBox.information", lambda _p, _t, text: shown.append(text)
    )
    window.boxes_to_masks.ask_scope = lambda *_args: "all"
    window.actions_by_id["boxes_to_masks"].trigger()
    assert shown and "File > Import" in shown[0] and not window.boxes_to_masks.runner.running
