"""A hand-painted live mask survives undo: Enter or Esc then Ctrl+Z brings back the painted mask, not the
model's answer for the same prompts (which arrives again after the undo)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from annotator.core.session_live import LiveMaskCommand
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def _paint(controller) -> np.ndarray:
    """What a brush stroke does: push a LiveMaskCommand with the edited mask."""
    painted = controller.live_mask().copy()
    painted[:10, :10] = True  # a corner the model's disc never covers
    before = None
    controller.undo_stack.push(
        LiveMaskCommand(controller.set_live_override, before, painted, controller.current_key, "Paint")
    )
    assert np.array_equal(controller.live_mask(), painted)
    return painted


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Escape])
def test_undo_after_accept_or_clear_restores_the_painted_mask(qtbot, make_window, image_folder, key) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    click_image(qtbot, window, 80, 60)
    painted = _paint(c)

    press(window, key)
    assert c.live_mask() is None
    if key == Qt.Key.Key_Return:
        assert np.array_equal(c.current_instances()[-1].mask.array(), painted)

    # The undo restores the prompts, which asks the model again; its answer must not replace the painting.
    with qtbot.waitSignal(c.client.decoded, timeout=10000):
        press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(c.live_mask(), painted)
    if key == Qt.Key.Key_Return:
        assert c.current_instances() == ()

    # A new click is new prompts: the model's answer replaces the painting.
    click_image(qtbot, window, 90, 60)
    assert not c.live_mask()[:10, :10].any()
