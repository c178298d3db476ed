"""Review mode driven by the keyboard, with a fake proposal generator whose proposals are known."""

from __future__ import annotations

import threading

import numpy as np
from pycocotools.coco import COCO
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from annotator.core.coco import export_coco
from annotator.core.review_proposal import ProposalState
from sam_model.automatic.generator import GenerationCancelled
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press

# (cx, cy, r, score) per image; a.png is 160 x 120, c.png 140 x 100.
KNOWN = {
    (120, 160): [
        (50, 50, 30, 0.95),
        (50, 50, 10, 0.91),
        (120, 40, 15, 0.9),
        (120, 95, 12, 0.85),
        (20, 100, 8, 0.8),
    ],
    (100, 140): [(40, 40, 15, 0.9), (100, 60, 15, 0.8)],
}


def disc(h: int, w: int, cx: int, cy: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def fake_generate(segmenter, rgb, **params):
    h, w = rgb.shape[:2]
    return [
        {"segmentation": disc(h, w, cx, cy, r), "predicted_iou": s, "stability_score": 0.97}
        for cx, cy, r, s in KNOWN[(h, w)]
    ]


def make_review_window(make_window, folder, segmenter=None):
    window = make_window(folder, segmenter=segmenter or DiscSegmenter())
    window.review.runner.make_segmenter = lambda _request: DiscSegmenter()
    window.review.runner.generate = fake_generate
    return window


def propose_all(qtbot, window) -> None:
    with qtbot.waitSignal(window.review.runner.finished, timeout=30000) as blocker:
        window.review.propose(window.controller.image_keys)
    assert blocker.args == [False, ""]


def current_center(window) -> tuple[int, int]:
    proposal = window.review.queue.current()
    x, y, w, h = proposal.mask.bbox
    return x + w // 2, y + h // 2


def wait_on_image(qtbot, window, key: str) -> None:
    c = window.controller
    qtbot.waitUntil(lambda: c.current_key == key and c.current_image is not None, timeout=10000)


def test_keyboard_review_survives_restart_and_exports_accepted(
    qtbot, make_window, image_folder, tmp_path
) -> None:
    window = make_review_window(make_window, image_folder)
    c, review = window.controller, window.review
    propose_all(qtbot, window)
    assert review.queue.counts() == (0, 7) and c.project.image("a.png").instances == ()
    category_before = c.current_category_id
    cats = [cat.id for cat in c.project.categories]

    press(window, Qt.Key.Key_R)
    assert review.active and current_center(window) == (50, 50)
    assert window.canvas.transform().m11() > 1.5  # zoomed to the proposal
    press(window, Qt.Key.Key_2)  # accept the big disc as category 2; the small disc inside is auto-skipped
    assert c.current_category_id == category_before  # not the normal "pick category" key
    assert current_center(window) == (120, 40)
    press(window, Qt.Key.Key_X)  # reject
    assert current_center(window) == (120, 95)
    press(window, Qt.Key.Key_M)  # merge into the big disc's object
    assert current_center(window) == (20, 100)
    assert c.current_key == "a.png"  # "A"/"D" image navigation did not fire
    press(window, Qt.Key.Key_Right)  # skip -> a.png is done, on to c.png
    wait_on_image(qtbot, window, "c.png")
    press(window, Qt.Key.Key_Return)  # accept (40, 40) with the current category
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo that decision
    assert c.project.image("c.png").instances == () and current_center(window) == (40, 40)
    press(window, Qt.Key.Key_A)  # accept again
    assert current_center(window) == (100, 60)
    a_states = [p.state for p in review.queue.proposals("a.png")]
    assert a_states == [
        ProposalState.ACCEPTED,
        ProposalState.REJECTED,
        ProposalState.SKIPPED,
        ProposalState.MERGED,
        ProposalState.SKIPPED,
    ]
    assert "covered" in review.queue.proposals("a.png")[2].reason
    # Decisions count, skips (by the user or covered) are shown apart (issue 13, item 8).
    qtbot.waitUntil(
        lambda: "4 / 7 decided · 2 skipped (this image 1 / 2)" in review.counter.text(), timeout=5000
    )
    assert review.queue.decision_counts() == (4, 2, 7)

    window.close()  # restart in the middle: the queue is in the project file
    window2 = make_review_window(make_window, image_folder)
    review2 = window2.review
    assert review2.queue.counts() == (6, 7)
    press(window2, Qt.Key.Key_R)
    wait_on_image(qtbot, window2, "c.png")
    assert current_center(window2) == (100, 60)
    press(window2, Qt.Key.Key_Delete)  # reject the last one
    assert review2.queue.current() is None and review2.queue.counts() == (7, 7)
    press(window2, Qt.Key.Key_Escape)
    assert not review2.active
    previous = window2.actions_by_id["previous_image"].shortcuts()
    assert "A" in [s.toString() for s in previous]  # normal shortcuts restored

    project = window2.controller.project
    out = tmp_path / "coco.json"
    export_coco(project, out)
    coco = COCO(str(out))
    by_file = {im["file_name"]: im["id"] for im in coco.dataset["images"]}
    a_anns = coco.loadAnns(coco.getAnnIds(imgIds=[by_file["a.png"]]))
    c_anns = coco.loadAnns(coco.getAnnIds(imgIds=[by_file["c.png"]]))
    assert len(a_anns) == 1 and len(c_anns) == 1
    assert a_anns[0]["category_id"] == cats[1] and c_anns[0]["category_id"] == category_before
    expected_a = disc(120, 160, 50, 50, 30) | disc(120, 160, 120, 95, 12)
    assert np.array_equal(coco.annToMask(a_anns[0]).astype(bool), expected_a)
    assert np.array_equal(coco.annToMask(c_anns[0]).astype(bool), disc(100, 140, 40, 40, 15))


def test_refine_a_proposal_with_a_click(qtbot, make_window, image_folder) -> None:
    segmenter = DiscSegmenter()
    window = make_review_window(make_window, image_folder, segmenter)
    c, review = window.controller, window.review
    propose_all(qtbot, window)
    press(window, Qt.Key.Key_R)
    press(window, Qt.Key.Key_E)  # refine: the proposal is the live mask
    assert review.phase.value == "refine"
    assert np.array_equal(c.live_mask(), disc(120, 160, 50, 50, 30))
    click_image(qtbot, window, 60, 60)
    assert segmenter.calls[-1]["mask_input"] is not None  # the proposal seeds the first click
    refined = c.live_mask().copy()
    press(window, Qt.Key.Key_Return)
    assert review.phase.value == "review"
    instances = c.project.image("a.png").instances
    assert len(instances) == 1 and np.array_equal(instances[0].mask.array(), refined)
    assert review.queue.proposals("a.png")[0].reason == "refined"
    assert c.prompt_state.is_empty and c.live_mask() is None


def test_propose_runs_in_background_and_cancel_stops_it(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    review = window.review
    threads: list[str] = []
    calls: list[str] = []

    def blocking_generate(segmenter, rgb, *, progress, cancel, **params):
        threads.append(threading.current_thread().name)
        calls.append(f"{rgb.shape}")
        progress(1, 4)
        if not cancel.wait(timeout=30):
            raise AssertionError("never cancelled")
        raise GenerationCancelled("cancelled")

    review.runner.make_segmenter = lambda _request: DiscSegmenter()
    review.runner.generate = blocking_generate
    with qtbot.waitSignal(review.runner.progress, timeout=10000, check_params_cb=lambda v, m: 0 < v < m):
        review.propose(["a.png", "c.png"])
    assert review.runner.running and threads and threads[0] != threading.main_thread().name
    dialog = review.progress_dialog
    assert dialog is not None and dialog.isVisible()
    with qtbot.waitSignal(review.runner.finished, timeout=10000) as blocker:
        dialog.findChild(QPushButton).click()
    assert blocker.args == [True, ""]
    assert len(calls) == 1  # stopped inside the first image: the second never started
    assert review.queue.counts() == (0, 0) and not review.runner.running
    assert review.progress_dialog is None


def test_unexpected_generator_error_skips_the_image_and_ends_the_job(
    qtbot, make_window, image_folder
) -> None:
    window = make_review_window(make_window, image_folder)
    failed: list[str] = []
    window.review.runner.image_failed.connect(lambda key, message: failed.append(f"{key}: {message}"))

    def broken_on_a(segmenter, rgb, **params):
        if rgb.shape[:2] == (120, 160):
            raise KeyError("not a ValueError")  # e.g. cv2.error from the classical proposals
        return fake_generate(segmenter, rgb, **params)

    window.review.runner.generate = broken_on_a
    propose_all(qtbot, window)
    assert len(failed) == 1 and failed[0].startswith("a.png: ") and "not a ValueError" in failed[0]
    assert window.review.queue.proposals("c.png") and not window.review.runner.running
    assert window.review.progress_dialog is None
