"""Hover preview (issue 13, item 2): the mask under the resting pointer, debounced, dropped when the pointer
moves, never ahead of a click, before the first click and as the next-point preview; a setting turns it off."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from annotator.core.hover import hover_prompt
from annotator.core.prompts import PromptState
from annotator.workers.requests import DecodeRequest, EncodeRequest
from annotator.workers.segment_mailbox import Mailbox
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press, view_point


@pytest.fixture(autouse=True)
def settings_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(home))
    return home


class GatedDiscSegmenter(DiscSegmenter):
    """The first hover-like decode (a single point) waits for ``gate``; ``waiting`` says it has started."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.waiting = threading.Event()

    def predict(self, *args, **kwargs):
        if not self.waiting.is_set():
            self.waiting.set()
            self.gate.wait(timeout=20)
        return super().predict(*args, **kwargs)


def _rest(qtbot, window, x, y):
    """Move the pointer to image pixel (x, y) and wait for the preview there."""
    c = window.controller
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, x, y))
    qtbot.waitUntil(lambda: c.hover.covers(x, y), timeout=10000)


def test_preview_before_the_first_click_follows_the_pointer(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    _rest(qtbot, window, 60, 50)
    assert c.prompt_state.is_empty and c.live_mask() is None  # only a preview: nothing was added
    assert window.canvas.hover_layer.labels is not None
    # Moving drops the preview at once (no stale mask under the pointer), then the new one comes.
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 120, 90))
    assert c.hover.labels() is None and window.canvas.hover_layer.labels is None
    _rest(qtbot, window, 120, 90)
    assert not c.hover.covers(60, 50)
    decodes = c.decode_requests
    click_image(qtbot, window, 120, 90)  # the click is a real decode; the preview is gone
    assert c.decode_requests == decodes + 1 and c.hover.labels() is None
    assert c.live_mask()[90, 120]


def test_next_point_preview_between_clicks(qtbot, make_window, image_folder) -> None:
    segmenter = DiscSegmenter()
    window = make_window(image_folder, segmenter=segmenter)
    c = window.controller
    click_image(qtbot, window, 40, 40)
    _rest(qtbot, window, 100, 80)
    call = segmenter.calls[-1]
    assert np.allclose(call["points"], [[40, 40], [100, 80]], atol=1.0)
    assert call["mask_input"] is not None  # as the click would send it: the current object's logits
    assert len(c.prompt_state.points) == 1  # still one real point
    window.canvas.hover_left.emit()
    assert c.hover.labels() is None


def test_no_preview_over_an_object_a_click_would_select(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    click_image(qtbot, window, 40, 40)
    press(window, Qt.Key.Key_Return)
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 41, 41))
    qtbot.waitUntil(lambda: not c.hover.timer.isActive(), timeout=5000)
    assert c.hover.requests == 0 and c.hover.labels() is None


def test_setting_turns_the_preview_off_and_is_kept(qtbot, make_window, image_folder, settings_home) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    action = window.actions_by_id["hover_preview"]
    assert action.isChecked()
    action.trigger()
    assert not c.hover.enabled
    assert json.loads((settings_home / "settings.json").read_text())["hover_preview"] is False
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 60, 50))
    assert not c.hover.timer.isActive() and c.hover.requests == 0
    window.close()  # the project is locked while a window has it open for writing (issue 15)
    second = make_window(image_folder, segmenter=DiscSegmenter(), open_first=False)
    assert not second.actions_by_id["hover_preview"].isChecked() and not second.controller.hover.enabled


def test_slow_engine_pauses_the_preview(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    c.hover.budget_s = 0.0  # every real decode takes longer than this
    click_image(qtbot, window, 40, 40)
    assert c.hover.paused()
    with qtbot.waitSignal(c.status, timeout=5000) as said:
        qtbot.mouseMove(window.canvas.viewport(), view_point(window, 100, 80))
    assert said.args[0].startswith("Hover preview paused")
    assert c.hover.requests == 0 and c.hover.labels() is None
    c.hover.budget_s = 10.0  # a fast engine again: previews resume
    _rest(qtbot, window, 110, 90)


def test_a_click_supersedes_a_queued_preview() -> None:
    mailbox = Mailbox()
    mailbox.put_encode(EncodeRequest("a", np.zeros((4, 4, 3), np.uint8)))
    assert mailbox.next_job() is not None
    hover = DecodeRequest("a", 1, None, None, None, None, True, hover=True)
    click = DecodeRequest("a", 7, None, None, None, None, True)
    mailbox.put_hover(hover)
    mailbox.put_decode(click)
    assert mailbox.next_job() is click
    assert mailbox.next_job() is None  # the preview was dropped, not decoded after the click
    mailbox.put_hover(hover)
    mailbox.cancel_hover()  # the pointer moved
    assert mailbox.next_job() is None


def test_hover_prompt_is_what_the_click_would_send() -> None:
    first = hover_prompt(PromptState(), 5.5, 6.0)
    assert first.points.tolist() == [[5.5, 6.0]] and first.labels.tolist() == [1] and first.multimask
    logits = np.zeros((1, 256, 256), np.float32)
    state = PromptState().with_point(1, 2, 1).with_point(3, 4, 0).with_logits(logits)
    nxt = hover_prompt(state, 9, 9)
    assert nxt.labels.tolist() == [1, 0, 1] and nxt.mask_input is logits and not nxt.multimask


def test_preview_at_the_views_resolution_and_the_click_at_the_images(
    qtbot, make_window, image_folder
) -> None:
    """Zoomed out, the preview comes at the resolution the view shows (cheaper to make and to draw), drawn over
    the whole image; the click there still gets the full-resolution mask."""
    window = make_window(image_folder, segmenter=DiscSegmenter(radius=20))
    c, canvas = window.controller, window.canvas
    canvas.zoom(0.5 / canvas.scale_factor())  # half a screen pixel per image pixel
    qtbot.waitUntil(lambda: c.client.outline_scale == pytest.approx(0.5), timeout=5000)  # told on repaint
    _rest(qtbot, window, 80, 60)
    labels = c.hover.labels()
    assert labels.shape == (60, 80)  # the 160 x 120 image at half its resolution
    assert canvas.hover_layer.labels.shape == (60, 80) and canvas.hover_layer.boundingRect().width() == 160
    assert c.hover.covers(80, 60) and not c.hover.covers(5, 5)
    click_image(qtbot, window, 80, 60)
    assert c.live_mask().shape == (120, 160) and c.live_mask()[60, 80]
    assert c.hover.labels() is None and canvas.hover_layer.labels is None


def test_a_click_while_a_preview_decodes_wins_and_the_preview_is_never_shown(
    qtbot, make_window, image_folder
) -> None:
    """The worker is busy with a preview when the click comes: the click is answered, the late preview is
    dropped (the client ignores preview answers once a click was asked)."""
    gate = threading.Event()
    segmenter = GatedDiscSegmenter(gate)
    window = make_window(image_folder, segmenter=segmenter)
    c = window.controller
    qtbot.mouseMove(window.canvas.viewport(), view_point(window, 60, 50))
    qtbot.waitUntil(lambda: segmenter.waiting.is_set(), timeout=10000)  # the preview is being decoded
    shown = []
    c.hover.changed.connect(lambda: shown.append(c.hover.labels() is not None))
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, 100, 80))
    assert c.client.pending_decode  # asked while the preview decodes
    with qtbot.waitSignal(c.client.decoded, timeout=10000):
        gate.set()
    assert c.live_mask()[80, 100] and not c.live_mask()[50, 60]
    assert True not in shown and c.hover.labels() is None
