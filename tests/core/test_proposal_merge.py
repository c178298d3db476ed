"""A proposals file merged into the review queue (``--into-project``): box drafts name their box object, a new
run replaces an earlier run's undecided box proposals (undo brings them back), stale boxes are left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.core.coco_values import box_mask
from annotator.core.masks import encode_rle
from annotator.core.project_store import ProjectStore
from annotator.core.proposal_merge import BOX_SOURCES, QueueReport, add_to_project, box_batch, live_boxes
from annotator.core.review import ReviewQueue
from annotator.core.review_batch import AddProposalsCommand
from annotator.core.undo import UndoStack
from tests.core.helpers import disc, make_project

W, H = 80, 60


def _box_object(project, key: str, box: tuple[float, float, float, float]) -> int:
    instance = project.new_instance(box_mask(box, H, W), 1, source="import", box=box)
    project.add_instance(key, instance)
    return instance.id


def _coco(box_ids: list[int], *, engine: str = "classic-v1") -> dict:
    return {
        "info": {"engine": engine},
        "images": [{"id": 1, "file_name": "img0.png", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {
                "id": n + 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": encode_rle(disc(H, W, 20 + 20 * n, 30, 8)),
                "score": 0.9,
                "source_box_id": iid,
                "source_box": [10.0, 20.0, 20.0, 20.0],
            }
            for n, iid in enumerate(box_ids)
        ],
    }


def test_box_batch_names_the_box_object_and_suggests_its_category() -> None:
    batch = box_batch(_coco([7, 9], engine="sam_vit_b"), tag="t")
    (size, drafts) = batch["img0.png"]
    assert size == (W, H)
    assert [d.provenance["box_instance"] for d in drafts] == [7, 9]
    assert all(d.source == "box-sam" and d.category_id == 1 for d in drafts)
    assert box_batch(_coco([7]), tag="t")["img0.png"][1][0].source == "box-classic"


def test_a_new_run_replaces_undecided_box_proposals_and_undo_restores_them(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1, W, H)
    a, b = (
        _box_object(project, "img0.png", (10, 20, 20, 20)),
        _box_object(project, "img0.png", (40, 20, 20, 20)),
    )
    stack = UndoStack()
    first = AddProposalsCommand(
        project, box_batch(_coco([a, b]), tag="one"), tag="one", replace_sources=BOX_SOURCES
    )
    stack.push(first)
    queue = ReviewQueue(project, UndoStack())
    old = [p.id for p in queue.proposals("img0.png")]
    assert len(old) == 2
    second = AddProposalsCommand(
        project, box_batch(_coco([b]), tag="two"), tag="two", replace_sources=BOX_SOURCES
    )
    stack.push(second)
    now = queue.proposals("img0.png")
    assert len(now) == 1 and now[0].id not in old and now[0].box_instance == b
    stack.undo()
    assert [p.id for p in queue.proposals("img0.png")] == old
    stack.redo()
    assert [p.id for p in queue.proposals("img0.png")] == [now[0].id]
    stack.undo()
    stack.undo()
    assert queue.proposals("img0.png") == ()


def test_drafts_of_a_box_no_longer_box_only_are_left_out(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1, W, H)
    a, b = (
        _box_object(project, "img0.png", (10, 20, 20, 20)),
        _box_object(project, "img0.png", (40, 20, 20, 20)),
    )
    project.remove_instance("img0.png", b)
    report = QueueReport()
    kept = live_boxes(project, box_batch(_coco([a, b]), tag="t"), report)
    assert [d.provenance["box_instance"] for d in kept["img0.png"][1]] == [a]
    assert report.stale == 1 and "1 left out" in report.line()


def test_add_to_project_saves_once_and_merging_twice_adds_nothing(tmp_path: Path) -> None:
    make_project(tmp_path, 1, W, H)  # the image file
    store = ProjectStore.open(tmp_path)
    store.project.add_category("cat")
    if not store.project.has_image("img0.png"):
        store.project.add_image("img0.png", W, H)
    a = _box_object(store.project, "img0.png", (10, 20, 20, 20))
    store.save()
    batch = box_batch(_coco([a]), tag="t")
    report = add_to_project(tmp_path, batch, tag="t", replace_sources=BOX_SOURCES)
    assert (report.images, report.proposals, report.already) == (1, 1, 0)
    report = add_to_project(tmp_path, batch, tag="t", replace_sources=BOX_SOURCES)
    assert (report.images, report.proposals, report.already) == (0, 0, 1)
    queue = ReviewQueue(ProjectStore.open(tmp_path).project, UndoStack())
    assert [p.box_instance for p in queue.proposals("img0.png")] == [a]
    assert np.array_equal(queue.proposals("img0.png")[0].mask.array(), disc(H, W, 20, 30, 8))
