"""Boxes to masks in the core (issue 14 item 3, issue 12 item 6): box prompts of a project or a COCO file,
proposals made of them, and the review decision that turns a box object into a mask object."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.core.box_objects import (
    SOURCE_BOX_SAM,
    box_proposals,
    project_box_prompts,
    proposals_dataset,
    read_coco_boxes,
)
from annotator.core.coco_values import box_mask
from annotator.core.errors import CocoError
from annotator.core.review import ReviewError, ReviewQueue
from annotator.core.review_proposal import ProposalDraft, ProposalState
from annotator.core.undo import UndoStack
from tests.core.helpers import add, disc, make_project

H, W = 60, 80


def _box_object(project, key: str, box=(10.0, 10.0, 40.0, 30.0), category_id: int = 2) -> int:
    inst = project.new_instance(box_mask(box, H, W), category_id, source="import", box=box)
    project.add_instance(key, inst)
    return inst.id


def _queue_with_box_proposal(tmp_path):
    project = make_project(tmp_path)
    add(project, "img0.png", disc(H, W, 70, 50, 5))  # a mask object: not a box to segment
    box_id = _box_object(project, "img0.png")
    boxes = project_box_prompts(project)
    (image,) = boxes.images
    shape = disc(H, W, 30, 25, 9)  # inside the box: covered by the box's pixels
    proposals, empty = box_proposals(image, [(0, shape, 0.87)], source=SOURCE_BOX_SAM, engine="vit_t-test")
    assert not empty
    stack = UndoStack()
    queue = ReviewQueue(project, stack)
    queue.add_proposals("img0.png", [p.to_draft() for p in proposals])
    return project, queue, stack, box_id, shape


def test_project_boxes_are_the_box_only_objects(tmp_path) -> None:
    project = make_project(tmp_path)
    add(project, "img0.png", disc(H, W, 20, 20, 5))
    first = _box_object(project, "img1.png", (5.0, 6.0, 10.0, 20.0), category_id=1)
    boxes = project_box_prompts(project)
    assert [i.file_name for i in boxes.images] == ["img1.png"] and boxes.box_count == 1
    (prompt,) = boxes.images[0].prompts
    assert (prompt.source_id, prompt.category_id, prompt.box_xyxy) == (first, 1, (5.0, 6.0, 15.0, 26.0))
    assert boxes.images[0].boxes_xyxy().tolist() == [[5.0, 6.0, 15.0, 26.0]]
    assert project_box_prompts(project, ["img0.png"]).images == []


def test_a_box_proposal_is_not_skipped_although_its_box_covers_it(tmp_path) -> None:
    _project, queue, _stack, box_id, _shape = _queue_with_box_proposal(tmp_path)
    (proposal,) = queue.proposals("img0.png")
    assert proposal.is_pending and proposal.box_instance == box_id and proposal.category_id == 2
    # an automatic proposal inside the box is not covered by it either: a box is not a shape
    queue.add_proposals(
        "img0.png",
        [ProposalDraft(_mask(disc(H, W, 25, 20, 4)), 0.5, "auto-sam")],
        replace_sources=("auto-sam",),
    )
    assert all(p.is_pending for p in queue.proposals("img0.png"))


def _mask(array: np.ndarray):
    from annotator.core.masks import Mask

    return Mask.from_array(array)


def test_accept_turns_the_box_object_into_a_mask_object_and_undo_restores_the_box(tmp_path) -> None:
    project, queue, stack, box_id, shape = _queue_with_box_proposal(tmp_path)
    count = len(project.image("img0.png").instances)
    queue.start()
    assert queue.accept(default_category=1) == box_id
    converted = project.image("img0.png").instance(box_id)
    assert converted.box is None and np.array_equal(converted.mask.array(), shape)
    assert converted.category_id == 2 and converted.source == "sam" and converted.score == 0.87
    assert len(project.image("img0.png").instances) == count  # replaced, not added
    (decided,) = queue.proposals("img0.png")
    assert decided.state is ProposalState.ACCEPTED and decided.instance_id == box_id
    with pytest.raises(ReviewError, match="Ctrl\\+Z"):
        queue.show("img0.png", decided.id)
        queue.reject()
    stack.undo()
    restored = project.image("img0.png").instance(box_id)
    assert restored.box == (10.0, 10.0, 40.0, 30.0) and restored.source == "import"
    assert queue.current() is not None and queue.current().is_pending
    stack.redo()
    assert project.image("img0.png").instance(box_id).box is None


def test_reject_keeps_the_box_and_a_new_run_replaces_only_box_proposals(tmp_path) -> None:
    project, queue, _stack, box_id, shape = _queue_with_box_proposal(tmp_path)
    queue.add_proposals(
        "img1.png", [ProposalDraft(_mask(disc(H, W, 20, 20, 4)), 0.5, "auto-sam")], replace_pending=True
    )
    queue.start("img0.png")
    queue.reject()
    assert project.image("img0.png").instance(box_id).box is not None
    draft = queue.proposals("img0.png")[0]
    assert draft.state is ProposalState.REJECTED
    # a second run: pending box proposals replaced, decided and other sources' kept
    proposal = ProposalDraft(_mask(shape), 0.9, SOURCE_BOX_SAM, 2, {"box_instance": box_id})
    queue.add_proposals("img0.png", [proposal], replace_pending=False, replace_sources=(SOURCE_BOX_SAM,))
    queue.add_proposals("img0.png", [proposal], replace_pending=False, replace_sources=(SOURCE_BOX_SAM,))
    states = [p.state for p in queue.proposals("img0.png")]
    assert sorted(states) == sorted([ProposalState.REJECTED, ProposalState.PENDING])
    assert len(queue.proposals("img1.png")) == 1


def test_accept_when_the_box_object_is_gone_adds_a_new_object(tmp_path) -> None:
    project, queue, _stack, box_id, _shape = _queue_with_box_proposal(tmp_path)
    project.remove_instance("img0.png", box_id)
    queue.start()
    new_id = queue.accept()
    assert new_id != box_id and project.image("img0.png").instance(new_id).category_id == 2


def test_empty_masks_are_reported_not_proposed(tmp_path) -> None:
    project = make_project(tmp_path)
    box_id = _box_object(project, "img0.png")
    (image,) = project_box_prompts(project).images
    proposals, empty = box_proposals(image, [(0, np.zeros((H, W), bool), 0.1)], source="box-sam", engine="e")
    assert proposals == [] and empty == [f"img0.png: box {box_id}: the model found no object"]


def test_coco_boxes_and_the_proposal_dataset(tmp_path) -> None:
    data = {
        "images": [
            {"id": 7, "file_name": "a.png", "width": W, "height": H},
            {"id": 8, "file_name": "b.png", "width": W, "height": H},
        ],
        "categories": [{"id": 3, "name": "car"}],
        "annotations": [
            {"id": 11, "image_id": 7, "category_id": 3, "bbox": [10, 10, 40, 30]},
            {
                "id": 12,
                "image_id": 7,
                "category_id": 3,
                "bbox": [1, 1, 5, 5],
                "segmentation": [[1, 1, 5, 1, 5, 5]],
            },
            {"id": 13, "image_id": 8, "category_id": 3, "bbox": [0, 0, 0, 4], "segmentation": []},
            {"id": 14, "image_id": 99, "category_id": 3, "bbox": [0, 0, 4, 4]},
        ],
    }
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(data))
    boxes = read_coco_boxes(path)
    assert [(i.image_id, i.file_name, i.width, i.height) for i in boxes.images] == [(7, "a.png", W, H)]
    assert [p.source_id for p in boxes.images[0].prompts] == [11]
    assert any("annotation 13" in n and "bbox" in n for n in boxes.notes)
    assert any("annotation 14" in n and "unknown" in n for n in boxes.notes)
    assert any("1 annotation(s) with a segmentation" in n for n in boxes.notes)
    shape = disc(H, W, 30, 25, 9)
    proposals, _ = box_proposals(boxes.images[0], [(0, shape, 0.5)], source="box-sam", engine="e")
    dataset = proposals_dataset(boxes, {"a.png": proposals}, engine="e")
    (ann,) = dataset["annotations"]
    assert ann["image_id"] == 7 and ann["category_id"] == 3 and ann["source_box_id"] == 11
    assert ann["area"] == int(shape.sum()) and ann["score"] == 0.5 and ann["source_box"] == [10, 10, 40, 30]
    assert dataset["categories"] == [{"id": 3, "name": "car", "supercategory": ""}]
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CocoError, match=r"bad\.json"):
        read_coco_boxes(tmp_path / "bad.json")


def test_a_refined_mask_replaces_the_box_too(tmp_path) -> None:
    project, queue, stack, box_id, _shape = _queue_with_box_proposal(tmp_path)
    refined = disc(H, W, 25, 20, 6)
    queue.start()
    assert queue.accept(mask=_mask(refined)) == box_id
    instance = project.image("img0.png").instance(box_id)
    assert instance.box is None and np.array_equal(instance.mask.array(), refined)
    assert queue.proposals("img0.png")[0].reason == "refined"
    stack.undo()
    assert project.image("img0.png").instance(box_id).box is not None
