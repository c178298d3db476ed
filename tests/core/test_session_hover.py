"""The hover preview rules of the session without Qt or threads (the test plays the debounce timer)."""

from __future__ import annotations

import numpy as np

from annotator.core.masks import Mask
from annotator.core.session_events import SessionChange
from tests.core.session_fakes import H, W, make_session, show


def test_a_resting_pointer_gets_the_mask_a_click_would_give(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    assert session.hover.moved(20.2, 30.7)
    assert not session.hover.moved(20.9, 30.1)  # the same pixel: the timer runs on
    session.hover.due()
    (request,) = decoder.hovers
    assert request.multimask and np.allclose(request.points, [[20.2, 30.7]])
    events.clear()
    session.hover.answered(decoder.answer(request))
    labels = session.hover.labels()
    assert labels is not None and labels[30, 20] == 1
    assert SessionChange.HOVER in [e.kind for e in events]


def test_an_answer_for_a_pixel_the_pointer_left_is_not_shown(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.hover.moved(20, 30)
    session.hover.due()
    cancels = decoder.hover_cancels
    assert session.hover.moved(50, 30)
    assert decoder.hover_cancels == cancels + 1
    session.hover.answered(decoder.answer(decoder.hovers[0]))
    assert session.hover.labels() is None


def test_new_prompts_drop_the_preview_and_it_is_asked_with_them(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.hover.moved(20, 30)
    session.hover.due()
    session.hover.answered(decoder.answer(decoder.hovers[0]))
    session.click(10, 10, 1)
    assert session.hover.labels() is None and not session.hover.waiting
    decoder.pending_decode = True
    session.hover.moved(40, 30)
    session.hover.due()
    assert len(decoder.hovers) == 1  # a click waits for its answer: no preview
    decoder.pending_decode = False
    session.decoded(decoder.answer(decoder.requests[0]))
    session.hover.moved(41, 30)
    session.hover.due()
    second = decoder.hovers[1]
    assert second.points.tolist() == [[10.0, 10.0], [41.0, 30.0]] and second.mask_input is not None


def test_no_preview_over_an_object_a_click_would_select(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    mask = np.zeros((H, W), bool)
    mask[20:40, 10:30] = True
    session.project.add_instance("img0.png", session.project.new_instance(Mask.from_array(mask), 1))
    session.hover.moved(15, 25)
    session.hover.due()
    assert decoder.hovers == []
    assert not session.hover.moved(W + 5, 25) and not session.hover.waiting  # off the image


def test_a_slow_engine_pauses_the_preview_and_says_so_once(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    session.hover.budget_s = 0.001
    session.click(10, 10, 1)
    session.decoded(decoder.answer(decoder.requests[0]))  # took 10 ms
    assert session.hover.paused()
    events.clear()
    for x in (40, 41):
        session.hover.moved(x, 30)
        session.hover.due()
    assert decoder.hovers == []
    said = [e.text for e in events if e.kind is SessionChange.STATUS]
    assert len(said) == 1 and said[0].startswith("Hover preview paused")
    session.engine_changed()  # a new engine: its speed is not known, previews resume
    session.hover.moved(42, 30)
    session.hover.due()
    assert len(decoder.hovers) == 1


def test_switched_off_no_preview(tmp_path) -> None:
    session, _decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.hover.set_enabled(False)
    assert not session.hover.moved(20, 30)
