"""Decode answers arrive with their outlines traced by the segment worker: the GUI thread never traces the
contours of a full-size mask for a click or a candidate switch, it only swaps the paths in (issue 13, item 2:
pointer events never wait on a decode); a hover preview is traced nowhere (its edge comes marked at the view's
resolution, ``mask_preview``). Only a hand-painted live mask is traced here."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from annotator.ui.overlay import OutlineItem
from annotator.workers.mask_preview import EDGE_IN, EDGE_OUT
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press, view_point


@pytest.fixture(autouse=True)
def settings_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))


@pytest.fixture
def traces(monkeypatch):
    """The shapes of the masks ``cv2.findContours`` traced, per thread kind (``"gui"`` / ``"worker"``)."""
    calls: dict[str, list[tuple[int, ...]]] = {"gui": [], "worker": []}
    real = cv2.findContours

    def spy(image, *args, **kwargs):
        gui = threading.current_thread() is threading.main_thread()
        calls["gui" if gui else "worker"].append(image.shape)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(cv2, "findContours", spy)
    return calls


def _outline_extent(item: OutlineItem) -> tuple[float, float, float, float]:
    rect = item.path.boundingRect()
    return rect.left(), rect.top(), rect.right(), rect.bottom()


def _mask_extent(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return xs.min() + 0.5, ys.min() + 0.5, xs.max() + 0.5, ys.max() + 0.5


def test_click_and_candidates_come_with_their_outline(qtbot, make_window, image_folder, traces) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c, canvas = window.controller, window.canvas
    traced_before = OutlineItem.traced
    click_image(qtbot, window, 80, 60)
    assert _outline_extent(canvas.live_outline) == _mask_extent(c.live_mask())
    sprite = canvas.live_outline.sprite  # stroked by the worker, for the view's zoom
    assert sprite is not None and sprite.scale == canvas.scale_factor()
    first = _outline_extent(canvas.live_outline)
    press(window, Qt.Key.Key_Tab)  # the next candidate: a bigger disc, its outline from the same answer
    qtbot.waitUntil(lambda: _outline_extent(canvas.live_outline) != first)
    assert _outline_extent(canvas.live_outline) == _mask_extent(c.live_mask())
    assert traces["gui"] == [] and OutlineItem.traced == traced_before
    assert len(traces["worker"]) >= 3  # the three candidates, each on its bounding box only
    assert all(shape[0] < 120 and shape[1] < 160 for shape in traces["worker"])


def test_hover_preview_is_neither_traced_nor_stroked(qtbot, make_window, image_folder, traces) -> None:
    """A preview comes with its edge marked by the worker (``mask_preview``): no contour is traced anywhere."""
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c, canvas = window.controller, window.canvas
    traced_before = OutlineItem.traced
    for x, y in ((50, 40), (110, 80)):
        qtbot.mouseMove(canvas.viewport(), view_point(window, x, y))
        qtbot.waitUntil(lambda x=x, y=y: c.hover.covers(x, y), timeout=10000)
        labels = canvas.hover_layer.labels
        assert labels is not None and (labels == EDGE_IN).any() and (labels == EDGE_OUT).any()
    assert traces == {"gui": [], "worker": []} and OutlineItem.traced == traced_before


def test_a_hand_painted_mask_is_traced_here_on_its_box(qtbot, make_window, image_folder, traces) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c, canvas = window.controller, window.canvas
    click_image(qtbot, window, 80, 60)
    painted = c.live_mask().copy()
    painted[5:15, 5:25] = True  # a stroke away from the disc
    traced_before = OutlineItem.traced
    c.paint_live_mask(painted, "Paint")
    assert OutlineItem.traced == traced_before + 1
    assert _outline_extent(canvas.live_outline) == _mask_extent(painted)
    assert traces["gui"] and all(shape[0] < 120 for shape in traces["gui"])  # the box, not the image


def test_a_preview_superseded_while_decoding_is_neither_traced_nor_sent() -> None:
    from annotator.workers.requests import DecodeRequest, EncodeRequest
    from annotator.workers.segment_worker import SegmentWorker

    worker = SegmentWorker(DiscSegmenter())
    answers = []
    worker.decoded.connect(answers.append)
    worker.mailbox.put_encode(EncodeRequest("a", np.zeros((60, 80, 3), np.uint8)))
    worker.drain()

    def hover(number: int) -> DecodeRequest:
        points = np.array([[40.0, 30.0]], np.float32)
        return DecodeRequest("a", number, points, np.array([1], np.int32), None, None, True, hover=True)

    worker.mailbox.put_hover(hover(1))
    job = worker.mailbox.next_job()
    worker.mailbox.put_hover(hover(2))  # the pointer moved on while preview 1 was being decoded
    worker._decode(job)
    assert answers == []
    worker.drain()
    assert [a.request_no for a in answers] == [2]
    assert len(answers[0].masks) == 1 and answers[0].preview is not None  # the best candidate only
