"""Find similar (PerSAM propagation) from the GUI: background run, review queue, keyboard review, export.

The tiny reference SAM has random weights, so similarities are meaningless: the dialog is answered with
``min_similarity = -1`` (every image yields its best match) and one object per image, which makes the
number of proposals known.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox, QPushButton

from annotator.core.coco import export_coco
from annotator.core.review_proposal import ProposalState
from annotator.ui.propagate_dialog import PropagateChoice, PropagateDialog
from annotator.workers.requests import EngineRequest, create_engine_segmenter
from annotator.workers.threads import running_worker_threads
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
CTRL_ALT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


@pytest.fixture
def folder(image_folder: Path) -> Path:
    """a.png (reference), b_corrupt.jpg (unreadable: marked as an error, never searched), c.png and d.png."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (110, 150, 3), dtype=np.uint8)).save(image_folder / "d.png")
    return image_folder


def sam_window(make_window, folder: Path, sam_reference: Path):
    checkpoint = str(sam_reference / "sam_tiny_a.pth")
    request = EngineRequest(checkpoint, "cpu")
    window = make_window(folder, engine=request)
    window.engine_request = request  # what main.py does with --checkpoint
    return window


def answer_dialog(scope: str, *, max_instances: int = 1, min_similarity: float = -1.0) -> list:
    """Fill in the Find similar dialog as soon as it is shown and press Find; returns [its choice]."""
    answers: list[PropagateChoice] = []

    def poll(tries: int = 500) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PropagateDialog):
            if tries:
                QTimer.singleShot(10, lambda: poll(tries - 1))
            return
        dialog.max_instances.setValue(max_instances)
        dialog.min_similarity.setValue(min_similarity)
        dialog.scope_buttons[scope].setChecked(True)
        answers.append(dialog.choice())
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(0, poll)
    return answers


def make_reference(qtbot, window) -> int:
    """Click an object on a.png, accept it with Enter, select it in the Objects list; returns its id."""
    c = window.controller
    click_image(qtbot, window, 60, 50)
    if not c.live_mask().any():  # random weights may answer an empty mask for a point; a box cannot
        with qtbot.waitSignal(c.client.decoded, timeout=60000):
            c.set_box(20, 20, 120, 90)
    press(window, Qt.Key.Key_Return)
    assert len(c.current_instances()) == 1
    lst = window.instance_panel.list
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(lst.item(0)).center())
    instance = c.selected_instance()
    assert instance is not None
    return instance.id


def wait_on_image(qtbot, window, key: str) -> None:
    c = window.controller
    qtbot.waitUntil(lambda: c.current_key == key and c.current_image is not None, timeout=30000)


def test_find_similar_in_all_images_then_review_and_export(
    qtbot, make_window, folder, sam_reference, tmp_path
) -> None:
    window = sam_window(make_window, folder, sam_reference)
    c, find, review = window.controller, window.find_similar, window.review
    threads: list[str] = []

    def tracking_segmenter(request: EngineRequest):
        threads.append(threading.current_thread().name)
        assert request == window.engine_request
        return create_engine_segmenter(request)

    find.runner.make_segmenter = tracking_segmenter
    ref_id = make_reference(qtbot, window)
    ref = c.project.image("a.png").instance(ref_id)
    ref_mask = ref.mask.array().copy()

    answers = answer_dialog("all")
    with qtbot.waitSignal(find.runner.finished, timeout=120000) as blocker:
        press(window, Qt.Key.Key_F, CTRL_SHIFT)
    assert blocker.args == [False, ""]
    assert (
        answers and answers[0].options.source == "persam" and answers[0].options.search.min_similarity == -1
    )
    assert threads and threads[0] != threading.main_thread().name
    assert find.progress_dialog is None and not find.runner.running

    queue = review.queue
    assert queue.proposals("a.png") == () and queue.proposals("b_corrupt.jpg") == ()
    for key in ("c.png", "d.png"):
        (proposal,) = queue.proposals(key)
        assert proposal.source == "persam" and proposal.category_id == ref.category_id
        assert proposal.provenance["ref_image"] == "a.png"
        assert proposal.provenance["ref_instance_id"] == ref_id
        assert proposal.mask.area > 0 and proposal.is_pending
        assert c.project.image(key).instances == ()  # proposals, never annotations
    message = window.statusBar().currentMessage()
    assert "2 proposal(s) added on 2 image(s)" in message and "skipped" not in message
    assert "Press R" in message

    press(window, Qt.Key.Key_R)
    assert review.active
    wait_on_image(qtbot, window, "c.png")
    accepted_mask = queue.current().mask.array().copy()
    press(window, Qt.Key.Key_Return)  # accept c.png's proposal
    wait_on_image(qtbot, window, "d.png")
    press(window, Qt.Key.Key_X)  # reject d.png's
    assert [p.state for p in queue.proposals("c.png")] == [ProposalState.ACCEPTED]
    assert [p.state for p in queue.proposals("d.png")] == [ProposalState.REJECTED]
    press(window, Qt.Key.Key_Escape)
    assert not review.active

    out = tmp_path / "coco.json"
    export_coco(c.project, out, images="all")  # d.png has no object
    coco = COCO(str(out))
    by_file = {im["file_name"]: im["id"] for im in coco.dataset["images"]}
    anns = {
        name: coco.loadAnns(coco.getAnnIds(imgIds=[by_file[name]])) for name in ("a.png", "c.png", "d.png")
    }
    assert [len(anns[k]) for k in ("a.png", "c.png", "d.png")] == [1, 1, 0]
    assert len(coco.dataset["annotations"]) == 2
    assert np.array_equal(coco.annToMask(anns["a.png"][0]).astype(bool), ref_mask)
    assert np.array_equal(coco.annToMask(anns["c.png"][0]).astype(bool), accepted_mask)
    assert anns["c.png"][0]["category_id"] == ref.category_id


def test_find_similar_in_selected_images_keeps_click_navigation(
    qtbot, make_window, folder, sam_reference
) -> None:
    window = sam_window(make_window, folder, sam_reference)
    c, find, files = window.controller, window.find_similar, window.file_list

    def click_file(name: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        item = files.findItems(name, Qt.MatchFlag.MatchExactly)[0]
        qtbot.mouseClick(
            files.viewport(), Qt.MouseButton.LeftButton, modifier, files.visualItemRect(item).center()
        )

    click_file("d.png", Qt.KeyboardModifier.ControlModifier)  # extends the selection, stays on a.png
    assert c.current_key == "a.png" and files.selected_keys() == ["a.png", "d.png"]
    ref_id = make_reference(qtbot, window)
    assert files.selected_keys() == ["a.png", "d.png"]

    answers = answer_dialog("selected", max_instances=2)
    with qtbot.waitSignal(find.runner.finished, timeout=120000) as blocker:
        press(window, Qt.Key.Key_F, CTRL_ALT)
    assert blocker.args == [False, ""] and answers[0].scope == "selected"
    queue = window.review.queue
    assert queue.proposals("c.png") == () and queue.proposals("b_corrupt.jpg") == ()
    found = queue.proposals("d.png")
    assert 1 <= len(found) <= 2 and all(p.provenance["ref_instance_id"] == ref_id for p in found)

    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        click_file("c.png")  # a plain click still opens the image
    assert c.current_key == "c.png" and files.selected_keys() == ["c.png"]


def test_cancel_stops_the_run_between_images(qtbot, make_window, folder, sam_reference) -> None:
    window = sam_window(make_window, folder, sam_reference)
    find = window.find_similar
    encoded: list[tuple[int, int]] = []
    release = threading.Event()

    def gated_segmenter(request: EngineRequest):
        predictor = create_engine_segmenter(request)
        original = predictor.set_image

        def set_image(rgb: np.ndarray) -> None:
            encoded.append(rgb.shape[:2])
            if len(encoded) == 2 and not release.wait(timeout=30):  # hold the first target image
                raise RuntimeError("the test never released the image")
            original(rgb)

        predictor.set_image = set_image
        return predictor

    find.runner.make_segmenter = gated_segmenter
    make_reference(qtbot, window)
    answer_dialog("all")
    with qtbot.waitSignal(
        find.runner.progress, timeout=60000, check_params_cb=lambda done, total: total == 2
    ):
        press(window, Qt.Key.Key_F, CTRL_SHIFT)
    qtbot.waitUntil(lambda: len(encoded) == 2, timeout=30000)
    dialog = find.progress_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(find.runner.finished, timeout=60000) as blocker:
        dialog.findChild(QPushButton).click()  # Cancel
        release.set()
    assert blocker.args == [True, ""]
    assert encoded == [(120, 160), (100, 140)]  # the reference and c.png; d.png never started
    assert find.progress_dialog is None and not find.runner.running
    assert "cancelled" in window.statusBar().currentMessage()
    assert window.review.queue.proposals("d.png") == ()


def test_needs_sam_and_a_selected_object(qtbot, make_window, image_folder, monkeypatch) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())  # classical engine settings: no checkpoint
    messages: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox, "information", lambda _parent, title, text, *a, **k: messages.append((title, text))
    )
    c = window.controller
    click_image(qtbot, window, 50, 50)
    press(window, Qt.Key.Key_Return)
    c.select_instance(c.current_instances()[0].id)

    press(window, Qt.Key.Key_F, CTRL_SHIFT)
    assert len(messages) == 1
    assert "SAM checkpoint" in messages[0][1] and "File > Load checkpoint" in messages[0][1]
    assert not window.find_similar.runner.running and "propagation-worker" not in running_worker_threads()

    window.engine_request = EngineRequest("some.pth")  # a checkpoint is configured, but no object selected
    c.select_instance(None)
    window.actions_by_id["find_similar_all"].trigger()
    assert len(messages) == 2 and "Select the object" in messages[1][1]
    assert not window.find_similar.runner.running and window.review.queue.counts() == (0, 0)
    assert window.find_similar.progress_dialog is None


def test_unexpected_error_ends_the_job_with_a_message(qtbot, tmp_path) -> None:
    from annotator.workers.propagation_worker import PropagationJob, PropagationWorker

    def broken(_request: EngineRequest):
        raise KeyError("not in JOB_ERRORS")  # e.g. cv2.error

    worker = PropagationWorker(broken)
    job = PropagationJob(
        job_id=7,
        ref_key="a.png",
        ref_path=tmp_path / "a.png",
        instance_id=1,
        ref_mask=np.ones((4, 4), bool),
        category_id=None,
        targets=(("c.png", tmp_path / "c.png"),),
        engine=EngineRequest("some.pth"),
    )
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.run(job)
    job_id, cancelled, message = blocker.args
    assert job_id == 7 and not cancelled and "not in JOB_ERRORS" in message


class Sam2LikeSegmenter(DiscSegmenter):
    """A fake whose class lives in ``sam_model.sam2`` (as ``Sam2Predictor`` does): PerSAM is not available."""

    model_id = "sam2.1_hiera_tiny-fake"


Sam2LikeSegmenter.__module__ = "sam_model.sam2.predictor"


def test_find_similar_with_sam2_says_why_it_is_not_available(
    qtbot, make_window, image_folder, monkeypatch
) -> None:
    from annotator.core.propagation import SamRequiredError, require_sam

    window = make_window(
        image_folder,
        factory=lambda _request: Sam2LikeSegmenter(),
        engine=EngineRequest("sam2.1_hiera_tiny.pt", "cpu", "float32"),
    )
    window.engine_request = EngineRequest("sam2.1_hiera_tiny.pt", "cpu", "float32")
    qtbot.waitUntil(lambda: window.controller.client.engine is not None)
    assert "SAM 2" in window.controller.client.engine.persam_unavailable
    messages: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox, "information", lambda _parent, title, text, *a, **k: messages.append((title, text))
    )
    c = window.controller
    click_image(qtbot, window, 50, 50)
    press(window, Qt.Key.Key_Return)
    c.select_instance(c.current_instances()[0].id)
    window.actions_by_id["find_similar_all"].trigger()
    assert len(messages) == 1 and "not available with this model" in messages[0][0]
    assert "SAM 2" in messages[0][1] and "MobileSAM" in messages[0][1]
    assert not window.find_similar.runner.running
    with pytest.raises(SamRequiredError, match="target-guided attention"):
        require_sam(Sam2LikeSegmenter())
