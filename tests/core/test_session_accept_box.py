"""Accept as box (Shift+Enter): the drawn box prompt kept as a box-only object, without Qt (fake decoder)."""

from __future__ import annotations

import numpy as np

from annotator.core.box_objects import project_box_prompts
from annotator.core.model import ImageStatus
from annotator.core.session_events import SessionChange
from tests.core.session_fakes import H, W, kinds, make_session, show


def test_a_drawn_box_becomes_a_box_object_of_the_current_category_in_one_undoable_step(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.set_box(10.4, 12, 30.6, 40)
    session.decoded(decoder.answer(decoder.requests[-1]))  # a live mask is shown, and is not what is kept
    session.objects.accept_box()
    (instance,) = session.project.image("img0.png").instances
    assert instance.box == (10.4, 12.0, 20.2, 28.0) and instance.source == "manual"
    assert instance.category_id == session.current_category().id
    expected = np.zeros((H, W), bool)
    expected[12:40, 10:31] = True
    assert np.array_equal(instance.mask.array(), expected)  # the pixels the box covers, like an import
    assert session.prompt_state.is_empty and session.live_mask() is None
    assert session.project.image("img0.png").status is ImageStatus.IN_PROGRESS
    boxes = project_box_prompts(session.project)  # what boxes to masks picks up
    assert [(p.source_id, p.box_xyxy) for p in boxes.images[0].prompts] == [
        (instance.id, (10.4, 12.0, 30.6, 40.0))
    ]
    session.undo()
    assert session.project.image("img0.png").instances == ()
    assert session.prompt_state.box == (10.4, 12.0, 30.6, 40.0)  # the prompt comes back
    session.redo()
    assert [i.id for i in session.project.image("img0.png").instances] == [instance.id]


def test_a_drawn_box_is_exported_and_saved_like_an_imported_box(tmp_path) -> None:
    from annotator.core.coco import build_coco
    from annotator.core.project_format import project_from_dict, project_to_dict

    session, _decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.set_box(10, 12, 30, 40)
    session.objects.accept_box()
    (instance,) = session.project.image("img0.png").instances
    coco, _report = build_coco(session.project, "polygon")
    (annotation,) = coco["annotations"]
    assert annotation["bbox"] == [10.0, 12.0, 20.0, 28.0] and not annotation.get("segmentation")
    again = project_from_dict(project_to_dict(session.project), tmp_path)
    assert again.image("img0.png").instances[0].box == instance.box


def test_a_box_is_clipped_to_the_image(tmp_path) -> None:
    session, _decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.set_box(-20, 50, 30, 500)
    session.objects.accept_box()
    (instance,) = session.project.image("img0.png").instances
    assert instance.box == (0.0, 50.0, 30.0, float(H - 50))


def test_clicks_a_selection_or_no_box_accept_nothing(tmp_path) -> None:
    session, decoder, _images, _events = make_session(tmp_path)
    show(session, "img0.png")
    session.objects.accept_box()  # no prompt
    session.set_box(10, 10, 30, 30)
    session.add_point(20, 20, 1)
    session.objects.accept_box()  # a box and a click: the model's mask is what Enter accepts
    assert session.project.image("img0.png").instances == ()
    session.clear_prompts()
    session.set_box(10, 10, 30, 30)
    session.objects.accept_box()
    first = session.project.image("img0.png").instances[0].id
    session.objects.select(first)
    session.objects.segment_box()  # the selected box object's box as the prompt
    session.objects.accept_box()  # refining a selected object: not a new box
    assert [i.id for i in session.project.image("img0.png").instances] == [first]
    assert len(decoder.requests) >= 2


def test_without_a_category_a_message_asks_for_one(tmp_path) -> None:
    session, _decoder, _images, events = make_session(tmp_path)
    session.project.remove_category(session.project.categories[0].id)
    show(session, "img0.png")
    session.set_box(10, 10, 30, 30)
    events.clear()
    session.objects.accept_box()
    assert SessionChange.MESSAGE in kinds(events)
    assert session.project.image("img0.png").instances == ()
    assert session.prompt_state.box is not None
