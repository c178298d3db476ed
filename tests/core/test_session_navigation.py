"""The session's navigation, prefetch, selection and accept rules without Qt or threads."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from annotator.core import model
from annotator.core.engine_choice import EngineRequest
from annotator.core.masks import Mask
from annotator.core.model import ImageStatus
from annotator.core.prefetch_policy import PrefetchPolicy, prefetch_order
from annotator.core.review_proposal import ProposalDraft
from annotator.core.session import CATEGORY_EVENTS, INSTANCE_EVENTS
from annotator.core.session_events import SessionChange
from tests.core.session_fakes import Engine, H, Image, W, make_session, show


def test_stepping_follows_the_list_skips_errors_and_stops_at_the_ends(tmp_path) -> None:
    session, _decoder, images, events = make_session(tmp_path)
    session.project.set_image_status("img1.png", ImageStatus.ERROR, "broken")
    session.step_image(+1)
    assert session.current_key == "img0.png"
    session.step_image(+1)
    assert session.current_key == "img2.png" and session.nav_direction == 1
    session.step_image(-1)
    assert session.current_key == "img0.png" and session.nav_direction == -1
    events.clear()
    session.step_image(-1)
    assert session.current_key == "img0.png"
    assert [e.text for e in events] == ["No more images in this direction"]
    assert images.loads == ["img0.png", "img2.png", "img0.png"]


def test_opening_an_image_up_the_list_turns_the_direction(tmp_path) -> None:
    session, _decoder, _images, _events = make_session(tmp_path)
    show(session, "img2.png")
    show(session, "img3.png")
    assert session.nav_direction == 1
    show(session, "img0.png")  # e.g. a click in the file list
    assert session.nav_direction == -1


def test_a_late_image_is_not_shown_and_a_failed_one_becomes_an_error(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    session.open_image("img0.png")
    session.open_image("img1.png")
    assert not session.image_shown(Image("img0.png", np.zeros((H, W, 3), np.uint8)))
    assert session.current_image is None and decoder.image is None
    session.image_failed("img1.png", "truncated file")
    assert session.project.image("img1.png").status is ImageStatus.ERROR
    assert any(e.kind is SessionChange.IMAGE_FAILED and e.image_key == "img1.png" for e in events)


def test_prefetch_follows_the_direction_once_per_plan_and_engine(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path, n_images=5, prefetch_depth=2)
    session.project.set_image_status("img2.png", ImageStatus.ERROR, "broken")
    show(session, "img0.png")
    assert session.encoded("img1.png") is None  # not the current image
    assert session.encoded("img0.png") == ["img1.png", "img3.png"]
    assert session.encoded("img0.png") is None  # planned already
    session.engine_changed()
    decoder.engine = Engine(model_id="other")
    assert session.encoded("img0.png") == ["img1.png", "img3.png"]
    show(session, "img4.png")
    show(session, "img3.png")
    assert session.encoded("img3.png") == ["img1.png", "img0.png"]


def test_prefetch_off_plans_nothing() -> None:
    assert PrefetchPolicy(0).plan(["a", "b"], "a", 1, None, skip=lambda _k: False) is None
    assert prefetch_order(["a", "b", "c"], "c", -1, 5) == ["b", "a"]


def test_accept_stores_the_live_mask_with_its_source(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.click(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    session.objects.accept()
    (instance,) = session.project.image("img0.png").instances
    assert instance.source == "sam" and instance.score == np.float32(0.9)
    assert session.live_mask() is None and session.prompt_state.is_empty
    assert session.project.image("img0.png").status is ImageStatus.IN_PROGRESS
    painted = np.zeros((H, W), bool)
    painted[5:9, 5:9] = True
    session.paint_live_mask(painted, "Paint live mask")
    session.objects.accept()
    assert session.project.image("img0.png").instances[1].source == "manual"
    session.undo()
    assert len(session.project.image("img0.png").instances) == 1
    assert np.array_equal(session.live_mask(), painted)  # the painting is back with the undo


def test_a_click_on_an_object_selects_it_and_the_next_click_refines_from_its_mask(tmp_path) -> None:
    session, decoder, _images, events = make_session(tmp_path)
    show(session, "img0.png")
    mask = np.zeros((H, W), bool)
    mask[20:40, 10:30] = True
    instance = session.project.new_instance(Mask.from_array(mask), 1)
    session.project.add_instance("img0.png", instance)
    session.click(15, 25, 1)
    assert session.selected_id == instance.id and not decoder.requests
    assert any(e.kind is SessionChange.SELECTION and e.instance_id == instance.id for e in events)
    session.click(35, 25, 1)
    request = decoder.requests[0]
    assert request.seed_mask is not None and np.array_equal(request.seed_mask, mask) and not request.multimask
    session.decoded(decoder.answer(request, radius=8))
    session.objects.accept()  # the selected object's new mask, not a new object
    (refined,) = session.project.image("img0.png").instances
    assert refined.id == instance.id and refined.mask.array()[25, 35]
    assert session.selected_id is None


def test_n_starts_a_new_object_on_top_of_an_accepted_one(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    mask = np.zeros((H, W), bool)
    mask[20:40, 10:30] = True
    session.project.add_instance("img0.png", session.project.new_instance(Mask.from_array(mask), 1))
    session.objects.new_object()
    session.click(15, 25, 1)
    assert session.selected_id is None and len(decoder.requests) == 1
    assert decoder.requests[0].seed_mask is None


def test_the_engine_decides_the_source_of_an_accepted_object(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    decoder.engine = Engine(checkpoint=None)
    show(session, "img0.png")
    session.click(20, 30, 1)
    session.decoded(decoder.answer(decoder.requests[0]))
    session.objects.accept()
    assert session.project.image("img0.png").instances[0].source == "classic"


def test_the_engine_choice_loads_at_once_and_falls_back_to_the_running_engine(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    session.engine.load(EngineRequest("vit_b.pth"))
    session.engine.set_device("cuda")
    session.engine.set_dtype("bfloat16")
    assert decoder.engines == [
        EngineRequest("vit_b.pth"),
        EngineRequest("vit_b.pth", "cuda"),
        EngineRequest("vit_b.pth", "cuda", "bfloat16"),
    ]
    assert session.engine.failed() == decoder.engine  # bfloat16 on cuda did not load: back to what runs
    assert session.engine.request == EngineRequest("fake.pt", "cpu", "float32")
    decoder.engine = None
    session.engine.load(EngineRequest("other.pth"))
    assert session.engine.failed() is None and session.engine.request == EngineRequest("other.pth")


def test_a_review_decision_is_one_step_of_the_session_undo(tmp_path) -> None:
    session, _decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    mask = np.zeros((H, W), bool)
    mask[10:20, 10:20] = True
    session.review.add_proposals("img0.png", [ProposalDraft(Mask.from_array(mask), 0.9, "auto-sam")])
    session.review.start("img0.png")
    session.review.accept(default_category=session.current_category_id)
    assert len(session.project.image("img0.png").instances) == 1
    session.undo()
    assert session.project.image("img0.png").instances == ()


def test_the_session_follows_every_object_and_category_event_the_project_emits() -> None:
    source = Path(model.__file__).read_text(encoding="utf-8")
    emitted = set(re.findall(r'_emit\(\s*"([a-z_]+)"', source))
    assert {"instance_added", "category_added", "reset"} <= emitted  # the pattern still finds the events
    followed = {t for t in emitted if t.startswith(("instance", "category"))} | {"reset"}
    assert followed <= INSTANCE_EVENTS | CATEGORY_EVENTS
