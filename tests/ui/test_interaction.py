"""Encoding in progress, candidates, corrupt images, brush/eraser and polygon edits."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from annotator.core.model import ImageStatus
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press, view_point
from tests.ui.test_annotate_flow import _exported_masks


def test_switching_image_while_encoding_never_paints_stale_mask(qtbot, make_window, image_folder) -> None:
    fake = DiscSegmenter()
    window = make_window(image_folder, segmenter=fake)
    c = window.controller
    click_image(qtbot, window, 30, 30)  # image a is encoded and has a live mask
    fake.encode_gate = threading.Event()
    try:
        with qtbot.waitSignal(c.image_loaded, timeout=10000):
            press(window, Qt.Key.Key_PageDown)  # b_corrupt is skipped: c.png
        assert c.current_key == "c.png"
        assert c.live_mask() is None and window.canvas.live_layer.labels is None
        assert "Encoding" in window.statusBar().currentMessage()
        # a click while c.png encodes is queued, and a stale answer for a.png may not show up
        qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, 50, 40))
        assert c.live_mask() is None
        with qtbot.waitSignal(c.client.decoded, timeout=10000) as blocker:
            fake.encode_gate.set()
    finally:
        fake.encode_gate.set()
    result = blocker.args[0]
    assert result.image_id == "c.png"
    live = c.live_mask()
    assert live.shape == (100, 140) and live[40, 50]


def test_going_back_does_not_reencode(qtbot, make_window, image_folder) -> None:
    fake = DiscSegmenter()
    window = make_window(image_folder, segmenter=fake)
    c = window.controller
    with qtbot.waitSignal(c.client.encoded, timeout=10000):
        press(window, Qt.Key.Key_D)
    with qtbot.waitSignal(c.client.encoded, timeout=10000):
        press(window, Qt.Key.Key_A)
    assert c.current_key == "a.png"
    assert fake.encoded_images == [(120, 160), (100, 140)]


def test_corrupt_image_shows_as_error(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    record = c.project.image("b_corrupt.jpg")
    assert record.status is ImageStatus.ERROR and "b_corrupt.jpg" in (record.error or "")
    assert "error" in window.file_list.status_text("b_corrupt.jpg")
    # choosing it in the list shows the error and the app goes on to a working image
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        window.file_list.image_chosen.emit("b_corrupt.jpg")
    assert c.current_key == "c.png"
    click_image(qtbot, window, 50, 50)
    assert c.live_mask() is not None


def test_tab_cycles_candidates_and_next_mask_input(qtbot, make_window, image_folder) -> None:
    fake = DiscSegmenter(radius=8)
    window = make_window(image_folder, segmenter=fake)
    c = window.controller
    click_image(qtbot, window, 80, 60)
    assert c.prompt_state.candidate_index == 1  # the fake ranks candidate 1 best
    area_best = int(c.live_mask().sum())
    assert "2/3" in window.candidate_label.text() and "0.90" in window.candidate_label.text()
    press(window, Qt.Key.Key_Tab)
    assert c.prompt_state.candidate_index == 2
    assert int(c.live_mask().sum()) > area_best
    assert "3/3" in window.candidate_label.text() and "0.70" in window.candidate_label.text()
    press(window, Qt.Key.Key_Tab)
    assert c.prompt_state.candidate_index == 0 and int(c.live_mask().sum()) < area_best
    click_image(qtbot, window, 90, 60)
    mask_input = fake.calls[-1]["mask_input"]
    assert mask_input is not None and mask_input.shape == (1, 256, 256)
    assert float(mask_input.mean()) == 0.0  # the fake's candidate-0 logits are all 0.0 (candidate 2: 2.0)
    # two points: one unambiguous mask; Tab says why there is nothing to cycle
    assert fake.calls[-1]["multimask_output"] is False
    with qtbot.waitSignal(c.status, check_params_cb=lambda text: "Only one candidate" in text, timeout=2000):
        press(window, Qt.Key.Key_Tab)
    # undo of the Tab is an undo step too
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def _accept_disc(qtbot, window, x: float, y: float) -> None:
    click_image(qtbot, window, x, y)
    press(window, Qt.Key.Key_Return)


def _drag(qtbot, window, points) -> None:
    viewport = window.canvas.viewport()
    first = view_point(window, *points[0])
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=first)
    for p in points[1:]:
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        pos = view_point(window, *p)
        event = QMouseEvent(
            QMouseEvent.Type.MouseMove,
            pos.toPointF(),
            viewport.mapToGlobal(pos).toPointF(),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(viewport, event)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=view_point(window, *points[-1]))


def test_brush_and_eraser_change_exported_mask(qtbot, make_window, image_folder, tmp_path) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    _accept_disc(qtbot, window, 60, 60)
    inst = c.current_instances()[0]
    c.select_instance(inst.id)
    press(window, Qt.Key.Key_B)
    window.brush.set_screen_radius(8 * window.canvas.scale_factor())  # 8 image pixels at this zoom
    _drag(qtbot, window, [(100, 20), (130, 20)])
    press(window, Qt.Key.Key_E)
    _drag(qtbot, window, [(60, 60), (61, 60)])
    mask = _exported_masks(c.project, tmp_path)["a.png"][0]
    assert mask[20, 115] and mask[20, 100] and not mask[60, 60] and not mask[60, 53] and mask[60, 51]
    # each stroke is one undo step
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.current_instances()[0].mask.array()[60, 60]
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not c.current_instances()[0].mask.array()[20, 115]


def test_brush_on_live_mask_is_undoable(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    click_image(qtbot, window, 60, 60)
    press(window, Qt.Key.Key_B)
    window.brush.set_screen_radius(8 * window.canvas.scale_factor())  # 8 image pixels at this zoom
    press(window, Qt.Key.Key_BracketRight)
    assert window.brush.radius == pytest.approx(10.0)
    _drag(qtbot, window, [(120, 100), (125, 100)])
    assert c.live_mask()[100, 122]
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not c.live_mask()[100, 122] and c.live_mask()[60, 60]
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    press(window, Qt.Key.Key_Return)
    assert c.current_instances()[0].mask.array()[100, 122]


def test_polygon_vertex_edit_changes_exported_mask(qtbot, make_window, image_folder, tmp_path) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=15))
    c = window.controller
    _accept_disc(qtbot, window, 60, 60)
    c.select_instance(c.current_instances()[0].id)
    press(window, Qt.Key.Key_P)
    tool = window.polygon
    assert tool.handles and (0, 0) in tool.rings
    ring = tool.rings[(0, 0)]
    # drag the right-most vertex far to the right with the mouse
    index = int(np.argmax([x for x, _ in ring]))
    handle = next(h for h in tool.handles if h.ring == (0, 0) and h.index == index)
    start = view_point(window, handle.pos().x(), handle.pos().y())
    end = view_point(window, 110, 60)
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    move = QMouseEvent(
        QMouseEvent.Type.MouseMove,
        end.toPointF(),
        viewport.mapToGlobal(end).toPointF(),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, move)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    mask = _exported_masks(c.project, tmp_path)["a.png"][0]
    assert mask[60, 100] and not mask[60, 115]
    inst = c.current_instances()[0]
    assert inst.polygons is not None  # no holes: exact polygons kept for export
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not c.current_instances()[0].mask.array()[60, 100]


def test_polygon_tolerance_and_vertex_removal_keep_holes(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=30))
    c = window.controller
    _accept_disc(qtbot, window, 80, 60)
    inst = c.current_instances()[0]
    holed = inst.mask.array().copy()
    holed[55:65, 75:85] = False
    c.set_instance_mask(inst.id, holed)
    c.select_instance(inst.id)
    press(window, Qt.Key.Key_P)
    tool = window.polygon
    assert (0, 1) in tool.rings, "the hole is a ring of its own"
    before = sum(len(r) for r in tool.rings.values())
    tool.set_tolerance(3.0)
    assert sum(len(r) for r in tool.rings.values()) < before
    mask = c.current_instances()[0].mask.array()
    assert not mask[60, 80] and mask[60, 60]
    outer = tool.rings[(0, 0)]
    handle = next(h for h in tool.handles if h.ring == (0, 0))
    tool.remove_vertex(handle)
    assert len(tool.rings[(0, 0)]) == len(outer)
    assert not c.current_instances()[0].mask.array()[60, 80]


class _GatedDecodes(DiscSegmenter):
    """``predict`` waits for ``decode_gate`` when it is set (a decode still in flight)."""

    def __init__(self, radius: int = 10) -> None:
        super().__init__(radius)
        self.decode_gate: threading.Event | None = None

    def predict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.decode_gate is not None:
            self.decode_gate.wait(timeout=20)
        return super().predict(*args, **kwargs)


def _undo_while_decoding(qtbot, make_window, image_folder):
    """One click (answered), a second click whose decode is held, Ctrl+Z, then the held answer arrives."""
    from PySide6.QtCore import QObject, Signal, Slot

    class Recorder(QObject):  # lives in the GUI thread; connected after the client, so it runs after it
        got = Signal()

        @Slot(object)
        def on_decoded(self, _result) -> None:  # type: ignore[no-untyped-def]
            self.got.emit()

    fake = _GatedDecodes(radius=8)
    window = make_window(image_folder, segmenter=fake)
    c = window.controller
    recorder = Recorder(window)
    c.client.worker.decoded.connect(recorder.on_decoded)
    click_image(qtbot, window, 80, 60)  # one click: three candidates, the best (index 1) shown
    assert c.prompt_state.candidate_index == 1
    shown = c.live_mask().copy()
    fake.decode_gate = threading.Event()
    try:
        qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, 20, 20))
        press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # back to the one-click answer
        assert len(c.prompt_state.points) == 1 and np.array_equal(c.live_mask(), shown)
        with qtbot.waitSignal(recorder.got, timeout=10000):
            fake.decode_gate.set()  # the answer for the undone two-click prompt arrives now
    finally:
        fake.decode_gate.set()
    assert np.array_equal(c.live_mask(), shown)
    return window


def test_undo_while_decoding_keeps_the_shown_answer(qtbot, make_window, image_folder) -> None:
    window = _undo_while_decoding(qtbot, make_window, image_folder)
    c = window.controller
    press(window, Qt.Key.Key_Tab)  # still the one-click answer's candidates
    assert c.prompt_state.candidate_index == 2 and "3/3" in window.candidate_label.text()
    press(window, Qt.Key.Key_Return)
    assert c.current_instances()[0].score == pytest.approx(0.7)


def test_redo_after_undo_while_decoding_shows_the_redone_prompt(qtbot, make_window, image_folder) -> None:
    window = _undo_while_decoding(qtbot, make_window, image_folder)
    c = window.controller
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(c.prompt_state.points) == 2
    qtbot.waitUntil(lambda: c.live_mask() is not None and bool(c.live_mask()[20, 20]), timeout=10000)
