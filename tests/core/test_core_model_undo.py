from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.core.errors import MaskError, ModelError, UndoError
from annotator.core.events import Event
from annotator.core.masks import DECODE_CACHE, Mask, decode_rle, encode_rle, normalize_rle
from annotator.core.model import ImageStatus, Project
from annotator.core.prompts import PromptSession, PromptState
from annotator.core.undo import (
    AddCategoryCommand,
    AddInstanceCommand,
    RemoveCategoryCommand,
    RemoveInstanceCommand,
    SetPromptCommand,
    UndoStack,
    accept_instance_command,
    recolor_category_command,
    rename_category_command,
    set_category_command,
    set_hidden_command,
    set_mask_command,
)
from tests.core.helpers import add, disc, make_project, ring


def test_mask_rle_roundtrip_and_lazy_cache() -> None:
    m = ring(50, 70, 30, 25, 15, 6)
    mask = Mask.from_array(m)
    assert isinstance(mask.rle["counts"], str)
    assert mask.area == int(m.sum())
    ys, xs = np.nonzero(m)
    assert mask.bbox == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    DECODE_CACHE.clear()
    a = mask.array()
    assert np.array_equal(a, m) and not a.flags.writeable
    assert mask.array() is a  # cached
    assert np.array_equal(decode_rle(encode_rle(m)), m)
    uncompressed = {"size": [2, 3], "counts": [1, 2, 3]}
    assert decode_rle(normalize_rle(uncompressed)).sum() == 2
    with pytest.raises(MaskError):
        normalize_rle({"size": [2, 3], "counts": [1, 2]})
    with pytest.raises(MaskError):
        Mask.from_array(np.zeros((2, 2, 2)))


def test_project_events_and_validation(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    events: list[Event] = []
    project.events.connect(events.append)
    iid = add(project, "img0.png", disc(60, 80, 20, 20, 5))
    assert [e.type for e in events] == ["instance_added"]
    assert events[0].image_key == "img0.png" and events[0].instance_id == iid
    project.set_image_status("img0.png", ImageStatus.ERROR, "bad")
    assert project.image("img0.png").error == "bad"
    project.set_image_status("img0.png", "done", "ignored")
    assert project.image("img0.png").status is ImageStatus.DONE and project.image("img0.png").error is None
    project.set_extra("review", {"queue": [1]})
    project.set_image_extra("img0.png", "proposals", [1, 2])
    assert [e.type for e in events][-3:] == ["image_changed", "extras_changed", "image_changed"]
    with pytest.raises(ModelError):
        add(project, "img0.png", disc(10, 10, 5, 5, 2))  # wrong size
    with pytest.raises(ModelError):
        add(project, "img0.png", disc(60, 80, 5, 5, 2), category_id=99)
    with pytest.raises(ModelError):
        project.add_category("CAT")  # duplicate name ignoring case
    with pytest.raises(ModelError):
        project.remove_category(1)  # in use
    assert project.category(2).supercategory == "animal"
    assert project.find_instance(iid)[0] == "img0.png"


def test_undo_redo_every_instance_command(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    stack = UndoStack()
    key = "img0.png"
    a = project.new_instance(Mask.from_array(disc(60, 80, 20, 20, 5)), 1)
    b = project.new_instance(Mask.from_array(disc(60, 80, 50, 30, 8)), 1)
    stack.push(AddInstanceCommand(project, key, a))
    stack.push(AddInstanceCommand(project, key, b))
    new_mask = Mask.from_array(disc(60, 80, 50, 30, 3))
    for cmd, check in [
        (
            set_category_command(project, key, a.id, 2),
            lambda: project.image(key).instance(a.id).category_id == 2,
        ),
        (set_hidden_command(project, key, a.id, True), lambda: project.image(key).instance(a.id).hidden),
        (
            set_mask_command(project, key, b.id, new_mask),
            lambda: project.image(key).instance(b.id).mask == new_mask,
        ),
        (
            RemoveInstanceCommand(project, key, a.id),
            lambda: [i.id for i in project.image(key).instances] == [b.id],
        ),
    ]:
        before = project.image(key).instances
        stack.push(cmd)
        assert check()
        stack.undo()
        assert project.image(key).instances == before
        stack.redo()
        assert check()
    while stack.can_undo:
        stack.undo()
    assert project.image(key).instances == ()
    with pytest.raises(UndoError):
        stack.undo()
    while stack.can_redo:
        stack.redo()
    assert [i.id for i in project.image(key).instances] == [b.id]
    assert project.image(key).instance(b.id).mask == new_mask


def test_undo_category_commands(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    stack = UndoStack()
    cmd = AddCategoryCommand(project, "bird")
    stack.push(cmd)
    cid = cmd.category_id
    assert project.category(cid).name == "bird"
    stack.undo()
    assert not project.has_category(cid)
    stack.redo()
    assert project.category(cid).name == "bird"  # same id again
    stack.push(rename_category_command(project, cid, "Parrot"))
    stack.push(recolor_category_command(project, cid, (9, 8, 7)))
    assert project.category(cid).name == "Parrot" and project.category(cid).color == (9, 8, 7)
    stack.undo()
    stack.undo()
    assert project.category(cid).name == "bird" and project.category(cid).color != (9, 8, 7)
    iid = add(project, "img1.png", disc(60, 80, 10, 10, 4), category_id=cid)
    order = [c.id for c in project.categories]
    stack.push(RemoveCategoryCommand(project, cid))
    assert not project.has_category(cid) and project.image("img1.png").instances == ()
    stack.undo()
    assert [c.id for c in project.categories] == order
    assert project.image("img1.png").instances[0].id == iid


def test_prompt_commands_and_accept(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    stack = UndoStack()
    session = PromptSession("img0.png")
    seen: list[PromptState] = []
    session.events.connect(lambda e: seen.append(session.state))
    logits = np.zeros((1, 256, 256), np.float32)
    stack.push(SetPromptCommand(session, session.state.with_point(10, 12, 1)))
    session.set(session.state.with_logits(logits))
    stack.push(SetPromptCommand(session, session.state.with_point(30, 20, 0).with_candidate(2)))
    assert session.state.point_labels().tolist() == [1, 0]
    assert session.state.point_coords().shape == (2, 2) and session.state.candidate_index == 2
    stack.undo()
    assert len(session.state.points) == 1 and session.state.logits is logits
    stack.redo()
    inst = project.new_instance(Mask.from_array(disc(60, 80, 20, 20, 5)), 1, source="sam", score=0.9)
    stack.push(accept_instance_command(project, session, inst))
    assert session.state.is_empty and project.image("img0.png").instances == (inst,)
    stack.undo()
    assert project.image("img0.png").instances == () and len(session.state.points) == 2
    stack.discard_prompt_commands()
    assert len(stack) == 1 and stack.can_redo and not stack.can_undo
    assert seen  # views were notified
    assert PromptState().with_box((5, 6, 1, 2)).box == (1.0, 2.0, 5.0, 6.0)


def test_failed_push_records_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path)
    stack = UndoStack()
    with pytest.raises(ModelError):
        stack.push(RemoveInstanceCommand(project, "nope.png", 1))
    assert len(stack) == 0
