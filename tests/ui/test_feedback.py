"""Feedback (issue 13, item 4): a busy indicator while an encode or a decode runs for the user, the title
"file name — position / count", and the previous image's status messages cleared."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from annotator.ui.busy_view import window_title
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press, view_point


def test_busy_indicator_while_encoding_and_a_queued_click(qtbot, make_window, image_folder) -> None:
    segmenter = DiscSegmenter()
    gate = threading.Event()
    segmenter.encode_gate = gate
    window = make_window(image_folder, segmenter=segmenter, open_first=False)
    c = window.controller
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        c.step_image(+1)
    assert window.busy_view.bar.isVisible()
    assert window.busy_view.label.text().startswith("Encoding image")
    # A click while the image encodes waits for it, visibly (busy pointer, "click queued").
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, 40, 40))
    assert "click queued" in window.busy_view.label.text()
    assert window.canvas.viewport().cursor().shape() == Qt.CursorShape.BusyCursor
    with qtbot.waitSignal(c.client.decoded, timeout=20000):
        gate.set()
    assert not window.busy_view.bar.isVisible()
    assert window.canvas.viewport().cursor().shape() != Qt.CursorShape.BusyCursor
    assert c.live_mask()[40, 40]


def test_title_shows_file_and_position_and_status_is_cleared(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    count = len(c.image_keys)
    assert window.windowTitle() == f"a.png — 1 / {count} — SAM annotator"
    click_image(qtbot, window, 40, 40)
    assert window.statusBar().currentMessage().startswith("Decoded")
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_PageDown)  # b_corrupt.jpg is skipped
    assert window.windowTitle() == f"c.png — 3 / {count} — SAM annotator"
    assert not window.statusBar().currentMessage().startswith("Decoded")


def test_window_title_without_an_image() -> None:
    assert window_title(None, 0, 0, "/data/x") == "SAM annotator — /data/x"
    assert window_title("a.jpg", 12, 480, "/d") == "a.jpg — 12 / 480 — SAM annotator"
