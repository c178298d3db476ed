"""Quit within a second (issue 13, item 1): closing the window tells the workers to stop and does not wait for a
long encode; the stopped worker finishes in the background and the process may end without it."""

from __future__ import annotations

import threading

import pytest

from annotator.workers.requests import DecodeRequest, EncodeRequest, EngineRequest
from annotator.workers.segment_mailbox import Mailbox
from annotator.workers.threads import parked_threads_running, running_worker_threads, set_quit_wait
from tests.ui.fakes import DiscSegmenter


@pytest.fixture
def quick_quit():
    set_quit_wait(50)
    yield
    set_quit_wait(None)


def test_closing_does_not_wait_for_an_encode_in_progress(qtbot, make_window, image_folder, quick_quit):
    entered, gate = threading.Event(), threading.Event()

    class SlowEncode(DiscSegmenter):
        def set_image(self, image):
            entered.set()
            super().set_image(image)

    segmenter = SlowEncode()
    segmenter.encode_gate = gate
    window = make_window(image_folder, segmenter=segmenter, open_first=False)
    controller = window.controller
    with qtbot.waitSignal(controller.image_loaded, timeout=10000):
        controller.step_image(+1)
    qtbot.waitUntil(entered.is_set, timeout=10000)
    window.close()  # the encode is still blocked on the gate: the close must not wait for it
    assert not gate.is_set()
    assert not window.isVisible()
    assert "segment-worker" in parked_threads_running()
    gate.set()  # the encode ends; the parked thread then stops on its own
    qtbot.waitUntil(lambda: "segment-worker" not in running_worker_threads(), timeout=20000)
    assert parked_threads_running() == []


def test_closed_mailbox_drops_requests_and_stops_prefetch() -> None:
    mailbox = Mailbox()
    rgb = __import__("numpy").zeros((4, 4, 3), "uint8")
    mailbox.put_encode(EncodeRequest("a", rgb))
    mailbox.set_prefetch_plan(("b",))
    mailbox.close()
    assert mailbox.next_job() is None
    mailbox.put_engine(EngineRequest(None))
    mailbox.put_encode(EncodeRequest("a", rgb))
    mailbox.put_decode(DecodeRequest("a", 1, None, None, None, None, False))
    mailbox.put_prefetch(EncodeRequest("b", rgb))
    assert mailbox.next_job() is None
    assert mailbox.next_prefetch() is None
