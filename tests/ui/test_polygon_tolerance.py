"""Issue 12, finding 2: the polygon tolerance simplifies the edited shape; slider, label and undo stay in step."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from annotator.core.masks import Mask
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press


def _drag_vertex(tool, ring: tuple[int, int], index: int, x: float, y: float) -> None:
    """Move a vertex handle as a mouse drag does: the handle moves, then the release commits the edit."""
    handle = next(h for h in tool.handles if h.ring == ring and h.index == index)
    handle.setPos(x, y)
    tool.vertex_moved(handle)
    tool.commit("Move vertex")


def _square_in_polygon_mode(qtbot, make_window, image_folder):
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    square = np.zeros((120, 160), bool)
    square[20:60, 30:90] = True
    instance = c.project.new_instance(Mask.from_array(square), c.project.categories[0].id)
    c.project.add_instance("a.png", instance)
    c.select_instance(instance.id)
    press(window, Qt.Key.Key_P)
    tool = window.polygon
    ring = tool.rings[(0, 0)]
    corner = next(i for i, (x, y) in enumerate(ring) if (x, y) == (90.0, 60.0))
    _drag_vertex(tool, (0, 0), corner, 120, 100)  # a vertex edit: the shape grows to the lower right
    assert c.selected_instance().mask.array()[50, 95]
    return window, c, tool, instance.id


def _click_groove(qtbot, window) -> None:
    slider = window.tolerance.slider
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() - 3, slider.height() // 2))


def test_slider_keeps_vertex_edits_and_applies_on_a_groove_click(qtbot, make_window, image_folder) -> None:
    window, c, tool, instance_id = _square_in_polygon_mode(qtbot, make_window, image_folder)
    slider, label = window.tolerance.slider, window.tolerance.label
    before = slider.value()
    _click_groove(qtbot, window)
    assert slider.value() != before
    assert tool.tolerance == slider.value() / 2  # applied, not only the label
    assert label.text().strip() == f"{slider.value() / 2:.1f} px"
    mask = c.project.image("a.png").instance(instance_id).mask.array()
    assert mask[50, 95], "the vertex edit survives simplifying"
    assert c.undo_stack.undo_text == "Simplify polygon"


def test_undo_of_a_simplify_moves_the_slider_back(qtbot, make_window, image_folder) -> None:
    window, c, tool, instance_id = _square_in_polygon_mode(qtbot, make_window, image_folder)
    slider, label = window.tolerance.slider, window.tolerance.label
    before_value = slider.value()
    edited = c.project.image("a.png").instance(instance_id).mask
    _click_groove(qtbot, window)
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert slider.value() == before_value and tool.tolerance == before_value / 2
    assert label.text().strip() == f"{before_value / 2:.1f} px"
    assert c.project.image("a.png").instance(instance_id).mask == edited
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert slider.value() != before_value and tool.tolerance == slider.value() / 2


def test_undo_and_redo_bring_back_the_edited_vertices_not_a_new_trace(
    qtbot, make_window, image_folder
) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    yy, xx = np.mgrid[:120, :160]
    disc = (yy - 60) ** 2 + (xx - 80) ** 2 <= 35**2
    instance = c.project.new_instance(Mask.from_array(disc), c.project.categories[0].id)
    c.project.add_instance("a.png", instance)
    c.select_instance(instance.id)
    press(window, Qt.Key.Key_P)
    tool = window.polygon
    traced = {ring_id: list(ring) for ring_id, ring in tool.rings.items()}
    x, y = tool.rings[(0, 0)][0]
    _drag_vertex(tool, (0, 0), 0, x + 7.5, y + 3.5)  # off the pixel grid: a re-trace could not give it back
    edited = {ring_id: list(ring) for ring_id, ring in tool.rings.items()}
    _click_groove(qtbot, window)  # simplify the edited shape
    simplified = {ring_id: list(ring) for ring_id, ring in tool.rings.items()}
    assert simplified != edited
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert tool.rings == edited, "undo restores the vertices as edited"
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert tool.rings == simplified
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the vertex move itself
    assert tool.rings == traced
    assert len(tool.handles) == sum(len(r) for r in tool.rings.values())
