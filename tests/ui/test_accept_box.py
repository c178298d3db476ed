"""Accept as box (Shift+Enter): a box dragged with the prompt tool kept as a box-only object, then turned into
a mask by Boxes to masks (Ctrl+Shift+B) like an imported box."""

from __future__ import annotations

from PySide6.QtCore import Qt

from annotator.ui.actions import load_keymap, shortcuts_html
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import press
from tests.ui.test_interaction import _drag

SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | SHIFT


def test_drawn_box_kept_as_box_object_then_boxes_to_masks(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    worker_segmenter = DiscSegmenter(radius=8)
    window.boxes_to_masks.runner.make_segmenter = lambda _request: worker_segmenter
    with qtbot.waitSignal(c.client.decoded, timeout=60000):
        _drag(qtbot, window, [(30, 20), (50, 35), (70, 50)])  # left drag in prompt mode: a box prompt
    assert c.session.prompt_state.box is not None

    press(window, Qt.Key.Key_Return, SHIFT)  # Accept as box
    (instance,) = c.current_instances()
    x, y, w, h = instance.box
    assert abs(x - 30) <= 1 and abs(y - 20) <= 1 and abs(x + w - 70) <= 1 and abs(y + h - 50) <= 1
    assert instance.category_id == c.session.current_category().id and instance.source == "manual"
    assert c.session.prompt_state.is_empty and c.session.live_mask() is None

    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: the box prompt is back
    assert c.current_instances() == () and c.session.prompt_state.box is not None
    press(window, Qt.Key.Key_Return, SHIFT)
    (instance,) = c.current_instances()

    command = window.boxes_to_masks
    command.ask_scope = lambda _window, current, total: "current" if (current, total) == (1, 1) else None
    with qtbot.waitSignal(command.runner.finished, timeout=30000) as blocker:
        press(window, Qt.Key.Key_B, CTRL_SHIFT)  # Tools > Boxes to masks…
    assert blocker.args == [False, ""]
    (call,) = [call for call in worker_segmenter.calls if call["box"] is not None]
    assert call["box"].tolist() == [x, y, x + w, y + h]
    (proposal,) = window.review.queue.proposals("a.png")
    assert proposal.box_instance == instance.id and proposal.category_id == instance.category_id

    press(window, Qt.Key.Key_R)
    press(window, Qt.Key.Key_Return)  # accept: the box object becomes a mask object, same id
    converted = c.project.image("a.png").instance(instance.id)
    assert converted.box is None and converted.mask == proposal.mask
    press(window, Qt.Key.Key_Escape)


def test_accept_as_box_is_in_the_edit_menu_and_the_shortcut_list(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    action = window.actions_by_id["accept_box"]
    edit = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert action in edit.actions()
    assert [s.toString() for s in action.shortcuts()] == ["Shift+Return", "Shift+Enter"]
    assert "Shift+Return" in shortcuts_html(load_keymap()) and "box-only object" in shortcuts_html(
        load_keymap()
    )
