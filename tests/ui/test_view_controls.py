"""Brush and zoom (issue 13, item 7): the brush radius is in screen pixels with a circle cursor of that size, zoom
keeps the point under the pointer from the first wheel step, and a failed device switch leaves the menu on the
device in use."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from annotator.workers.requests import EngineRequest
from sam_model.errors import SamModelError
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press


def _wheel(canvas, pos: QPoint, steps: int) -> None:
    viewport = canvas.viewport()
    for _ in range(abs(steps)):
        event = QWheelEvent(
            QPointF(pos),
            QPointF(viewport.mapToGlobal(pos)),
            QPoint(0, 0),
            QPoint(0, 120 if steps > 0 else -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(viewport, event)


@pytest.mark.parametrize("where", [(0.2, 0.3), (0.8, 0.75), (0.5, 0.5)])
def test_zoom_keeps_the_point_under_the_pointer_from_the_fitted_view(
    qtbot, make_window, image_folder, where
) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    canvas = window.canvas
    rect = canvas.viewport().rect()
    pos = QPoint(int(rect.width() * where[0]), int(rect.height() * where[1]))
    before = canvas.mapToScene(pos)
    for steps in (1, 1, 3, -2):
        _wheel(canvas, pos, steps)
        after = canvas.mapToScene(pos)
        tolerance = 1.0 / canvas.scale_factor()  # one screen pixel
        assert abs(after.x() - before.x()) <= tolerance and abs(after.y() - before.y()) <= tolerance


def test_brush_radius_is_in_screen_pixels(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    canvas, brush = window.canvas, window.brush
    press(window, Qt.Key.Key_B)
    assert canvas.brush_cursor.isVisible()
    screen = brush.screen_radius
    assert brush.radius == pytest.approx(screen / canvas.scale_factor())
    # The cursor circle is that many screen pixels at any zoom.
    for _ in range(2):
        cursor = canvas.mapFromScene(canvas.brush_cursor.rect()).boundingRect()
        assert cursor.width() == pytest.approx(2 * screen, abs=2)
        _wheel(canvas, canvas.viewport().rect().center(), 3)
    press(window, Qt.Key.Key_BracketRight)
    assert brush.screen_radius == pytest.approx(screen * 1.25)


def test_failed_device_switch_keeps_the_device_in_use(qtbot, make_window, image_folder) -> None:
    def factory(request: EngineRequest):
        if request.device == "cuda":
            raise SamModelError("cuda: no CUDA device on this machine")
        return DiscSegmenter()

    window = make_window(image_folder, factory=factory, engine=EngineRequest(None, "cpu"))
    c = window.controller
    qtbot.waitUntil(lambda: c.client.engine is not None, timeout=10000)
    assert window.engine_view.device_actions["cpu"].isChecked()
    with qtbot.waitSignal(c.client.engine_failed, timeout=10000):
        window.engine_view.device_actions["cuda"].trigger()
    assert (
        window.engine_view.device_actions["cpu"].isChecked()
        and not window.engine_view.device_actions["cuda"].isChecked()
    )
    assert "cpu" in window.engine_view.label.text() and "loading" not in window.engine_view.label.text()
    assert window.engine_request.device == "cpu"
    qtbot.waitUntil(lambda: c.client.image_ready, timeout=10000)  # the old engine still serves the image
    assert c.client.busy == ""
