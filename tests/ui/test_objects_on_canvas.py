"""Objects on the canvas (issue 13, items 3 and 8): click an accepted object to select it (topmost; Alt-click
cycles), outlines for every object, a shade per object, opacity / outline-only / hide-all, N for a new object
with a visible hint, and a refinement that shows only the new mask."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from annotator.core.records import Instance
from annotator.core.selection import instances_at, object_colors, pick, shade
from annotator.ui.instance_layer import SELECTED
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press, view_point


def _two_overlapping_objects(qtbot, window):
    """Object 1 around (40, 40) and object 2 around (55, 40) (discs of radius 20 overlap at x 35..60)."""
    c = window.controller
    click_image(qtbot, window, 40, 40)
    press(window, Qt.Key.Key_Return)
    press(window, Qt.Key.Key_N)  # on the first object: a new object, not a selection
    click_image(qtbot, window, 55, 40)
    press(window, Qt.Key.Key_Return)
    first, second = c.current_instances()
    return first.id, second.id


def _click(qtbot, window, x, y, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, modifier, view_point(window, x, y))


def test_click_selects_topmost_and_alt_click_cycles(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    first, second = _two_overlapping_objects(qtbot, window)
    decodes = c.decode_requests
    with qtbot.waitSignal(c.selection_changed, timeout=5000):
        _click(qtbot, window, 48, 40)  # both objects: the later one is on top
    assert c.selected_id == second
    assert c.decode_requests == decodes  # a selection, not a prompt
    assert window.selection_hint.isVisible() and "N: new object" in window.selection_hint.text()
    with qtbot.waitSignal(c.selection_changed, timeout=5000):
        _click(qtbot, window, 48, 40, Qt.KeyboardModifier.AltModifier)
    assert c.selected_id == first
    with qtbot.waitSignal(c.selection_changed, timeout=5000):
        _click(qtbot, window, 48, 40, Qt.KeyboardModifier.AltModifier)
    assert c.selected_id == second
    # The selected object is drawn with the selection label, the other with its own.
    labels = window.canvas.instances_layer.labels
    assert labels[40, 70] == SELECTED and labels[40, 25] not in (0, SELECTED)
    press(window, Qt.Key.Key_Escape)
    assert c.selected_id is None and not window.selection_hint.isVisible()


def test_clicks_while_drawing_are_prompts(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    first, _second = _two_overlapping_objects(qtbot, window)
    click_image(qtbot, window, 120, 90)  # a new object away from the others
    click_image(qtbot, window, 30, 40)  # on object 1, but an object is in progress: a second point
    assert len(c.prompt_state.points) == 2 and c.selected_id is None
    press(window, Qt.Key.Key_Escape)
    _click(qtbot, window, 30, 40)
    assert c.selected_id == first


def test_outlines_shades_opacity_and_toggles(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    _two_overlapping_objects(qtbot, window)
    canvas = window.canvas
    assert canvas.instance_outlines.count == 2
    labels = canvas.instances_layer.labels
    image = canvas.instances_layer._image
    # One category, two objects: two different colours.
    assert image.color(int(labels[40, 25])) != image.color(int(labels[40, 70]))
    alpha = image.color(int(labels[40, 25])) >> 24
    slider = window.opacity_slider
    QTest.keyClick(slider, Qt.Key.Key_End)
    assert slider.value() == 100
    assert canvas.instances_layer._image.color(int(labels[40, 25])) >> 24 == 255 > alpha
    press(window, Qt.Key.Key_O)  # outlines only
    labels = canvas.instances_layer.labels
    assert canvas.instances_layer._image.color(int(labels[40, 25])) >> 24 == 0
    assert canvas.instance_outlines.count == 2
    press(window, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)  # hide all
    assert canvas.instances_layer.labels is None and canvas.instance_outlines.count == 0
    press(window, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)
    press(window, Qt.Key.Key_O)
    assert canvas.instance_outlines.count == 2
    assert canvas.instances_layer._image.color(int(canvas.instances_layer.labels[40, 25])) >> 24 == 255


def test_refinement_shows_only_the_new_mask(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=10))
    c = window.controller
    click_image(qtbot, window, 40, 40)  # candidate 1: radius 20
    press(window, Qt.Key.Key_Return)
    (inst,) = c.current_instances()
    _click(qtbot, window, 40, 40)
    assert c.selected_id == inst.id
    click_image(qtbot, window, 100, 80)  # refine: the old fill and outline make way for the new mask
    assert window.canvas.instances_layer.labels[40, 40] == 0
    assert window.canvas.instance_outlines.count == 0
    assert c.live_mask()[80, 100]
    press(window, Qt.Key.Key_Escape)  # prompts dropped: the object is drawn again
    assert window.canvas.instances_layer.labels[40, 40] == SELECTED


def test_new_object_key_starts_an_object_on_a_selected_one(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    click_image(qtbot, window, 40, 40)
    press(window, Qt.Key.Key_Return)
    _click(qtbot, window, 40, 40)
    assert c.selected_id is not None
    press(window, Qt.Key.Key_N)
    assert c.selected_id is None and not window.selection_hint.isVisible()
    click_image(qtbot, window, 42, 42)
    press(window, Qt.Key.Key_Return)
    assert len(c.current_instances()) == 2


def _instance(instance_id: int, x0: int, hidden: bool = False, category: int = 1) -> Instance:
    import numpy as np

    from annotator.core.masks import Mask

    mask = np.zeros((20, 30), bool)
    mask[5:15, x0 : x0 + 10] = True
    return Instance(instance_id, category, Mask.from_array(mask), hidden=hidden)


def test_hit_test_and_cycle_rules() -> None:
    objects = [_instance(1, 0), _instance(2, 5), _instance(3, 8, hidden=True)]
    assert instances_at(objects, 7, 10) == [2, 1]  # topmost (last drawn) first; hidden ignored
    assert instances_at(objects, 7, 2) == []
    assert instances_at(objects, -1, 10) == []
    assert pick([2, 1], None, cycle=False) == 2
    assert pick([2, 1], 2, cycle=True) == 1
    assert pick([2, 1], 1, cycle=True) == 2
    assert pick([2, 1], 7, cycle=True) == 2
    assert pick([], 2, cycle=True) is None


def test_each_object_gets_its_own_shade() -> None:
    objects = [_instance(i, i) for i in range(1, 5)] + [_instance(9, 0, category=2)]
    colors = object_colors(objects, {1: (200, 40, 40), 2: (200, 40, 40)})
    assert colors[1] == (200, 40, 40) == colors[9]  # the first object of each category: the category colour
    assert len({colors[i] for i in range(1, 5)}) == 4
    assert shade((0, 0, 0), 3) != (0, 0, 0)  # black objects are lightened, not lost
