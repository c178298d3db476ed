"""The session's decode rules without Qt or threads: requests, stale answers, overrides, candidates, parking."""

from __future__ import annotations

import numpy as np

from annotator.core.session_events import SessionChange
from tests.core.session_fakes import H, W, kinds, make_session, show


def test_a_click_asks_for_three_candidates_and_shows_the_best(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    events.clear()
    session.click(20, 30, 1)
    assert len(decoder.requests) == 1
    request = decoder.requests[0]
    assert request.multimask and request.mask_input is None and request.seed_mask is None
    assert request.points.tolist() == [[20.0, 30.0]]
    assert session.live_mask() is None  # nothing shown before the answer
    assert session.decoded(decoder.answer(request))
    mask = session.live_mask()
    assert mask is not None and mask.shape == (H, W) and mask[30, 20]
    assert session.prompt_state.candidate_index == 1  # the best score
    assert session.prompt_state.logits is not None and session.prompt_state.logits[0, 0, 0] == 1.0
    candidate = next(e.candidate for e in events if e.kind is SessionChange.CANDIDATE and e.candidate)
    assert (candidate.index, candidate.count) == (1, 3)
    assert SessionChange.PROMPTS in kinds(events) and SessionChange.LIVE in kinds(events)


def test_the_second_click_sends_the_first_answers_logits(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.click(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    session.click(40, 30, 0)
    second = decoder.requests[1]
    assert not second.multimask and second.mask_input is not None and second.mask_input[0, 0, 0] == 1.0


def test_answers_out_of_order_only_the_newest_is_shown(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    session.add_point(60, 30, 1)
    first, second = decoder.requests
    assert session.decoded(decoder.answer(second, radius=3))
    shown = session.live_mask().copy()
    assert not session.decoded(decoder.answer(first, radius=20))  # late: dropped
    assert np.array_equal(session.live_mask(), shown)


def test_a_late_answer_to_an_older_request_before_the_newest_is_dropped(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    session.add_point(60, 30, 1)
    first, _second = decoder.requests
    assert not session.decoded(decoder.answer(first))
    assert session.live_mask() is None


def test_an_answer_for_another_image_is_dropped(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    assert not session.decoded(decoder.answer(decoder.requests[0], image_id="img1.png"))
    assert session.live_mask() is None


def test_an_answer_arriving_after_the_user_moved_on_is_dropped(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    pending = decoder.requests[0]
    show(session, "img1.png")
    assert not session.decoded(decoder.answer(pending))
    assert session.live_mask() is None and session.prompt_state.is_empty


def test_esc_cancels_the_decode_in_flight_and_its_answer_is_dropped(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    cancels = decoder.cancels
    session.clear_prompts()
    assert decoder.cancels > cancels
    assert not session.decoded(decoder.answer(decoder.requests[0]))
    assert session.live_mask() is None


def test_undo_back_to_the_shown_answer_drops_the_stale_decode_without_a_new_one(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    shown = session.live_mask().copy()
    session.add_point(60, 30, 1)
    session.undo()
    assert len(decoder.requests) == 2  # the first answer is shown again, not asked again
    assert not session.decoded(decoder.answer(decoder.requests[1], radius=20))
    assert np.array_equal(session.live_mask(), shown)
    session.redo()
    assert len(decoder.requests) == 3  # the second prompts are asked again


def test_an_override_painted_while_its_prompts_decode_is_kept(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    painted = np.zeros((H, W), bool)
    painted[:10, :10] = True
    session.paint_live_mask(painted, "Paint live mask")
    assert session.decoded(decoder.answer(decoder.requests[0]))  # same prompts: the painting stays
    assert np.array_equal(session.live_mask(), painted)


def test_an_answer_for_new_prompts_replaces_the_override_and_undo_brings_it_back(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    painted = np.zeros((H, W), bool)
    painted[:10, :10] = True
    session.paint_live_mask(painted, "Paint live mask")
    session.add_point(60, 30, 1)
    session.decoded(decoder.answer(decoder.requests[1]))
    assert not np.array_equal(session.live_mask(), painted) and session.live_mask()[30, 60]
    session.undo()  # the second point
    session.undo()  # ... back before the painting
    session.redo()  # the painting again
    assert np.array_equal(session.live_mask(), painted)


def test_tab_cycles_the_candidates_and_the_choice_is_undoable(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.click(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    session.cycle_candidate()
    assert session.prompt_state.candidate_index == 2
    assert session.prompt_state.logits[0, 0, 0] == 1.0
    assert len(decoder.requests) == 1  # a choice among the candidates shown, no new decode
    session.undo()
    assert session.prompt_state.candidate_index == 1


def test_a_single_candidate_cannot_be_cycled(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    session.set_box(10, 10, 40, 40)
    assert not decoder.requests[0].multimask
    session.decoded(decoder.answer(decoder.requests[0]))
    events.clear()
    session.cycle_candidate()
    assert next(e.text for e in events if e.kind is SessionChange.STATUS).startswith("Only one candidate")


def test_a_failed_decode_is_a_message_and_the_next_click_asks_again(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    session.decode_failed("out of memory")
    assert any(e.kind is SessionChange.MESSAGE and e.text == "out of memory" for e in events)
    session.add_point(25, 30, 1)
    assert len(decoder.requests) == 2


def test_a_prompt_before_the_image_is_encoded_says_it_is_queued(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    decoder.image_ready = False
    session.add_point(20, 30, 1)
    assert any(e.kind is SessionChange.STATUS and "prompt queued" in e.text for e in events)


def test_an_unaccepted_mask_is_parked_with_its_image_and_comes_back_without_a_decode(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.add_point(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    shown = session.live_mask().copy()
    show(session, "img1.png")
    assert session.live_mask() is None and session.live.unaccepted_images() == ["img0.png"]
    show(session, "img0.png")
    assert len(decoder.requests) == 1
    assert np.array_equal(session.live_mask(), shown) and len(session.prompt_state.points) == 1
    session.live.discard_unaccepted()
    assert session.live_mask() is None and session.live.unaccepted_images() == []
