"""The review queue: order, coverage auto-skip, decisions and their undo, save/restore, export."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools.coco import COCO

from annotator.core.coco import export_coco
from annotator.core.masks import Mask
from annotator.core.project_store import load_project, save_project
from annotator.core.review import ReviewError, ReviewQueue
from annotator.core.review_proposal import ProposalDraft, ProposalState, draft_from_record, review_order_key
from annotator.core.undo import UndoStack
from tests.core.helpers import add, disc, make_project

H, W = 60, 80


def draft(mask: np.ndarray, score: float, source: str = "auto-sam", category_id: int | None = None):
    return ProposalDraft(Mask.from_array(mask), score, source, category_id, {"run": 1})


@pytest.fixture
def setup(tmp_path):
    project = make_project(tmp_path)
    stack = UndoStack()
    queue = ReviewQueue(project, stack)
    return project, stack, queue


def test_order_confident_then_large(setup) -> None:
    _project, _stack, queue = setup
    small = disc(H, W, 20, 20, 5)
    big = disc(H, W, 50, 30, 15)
    drafts = [
        draft(small, 0.95),
        draft(big, 0.96),
        draft(big & ~small, 0.70),
        draft(disc(H, W, 10, 50, 8), 0.951),
    ]
    added = queue.add_proposals("img0.png", drafts)
    order = [p.score for p in queue.proposals("img0.png")]
    # 0.95, 0.951 and 0.96 share a 0.05 bucket: larger first; 0.70 last.
    assert order == [0.96, 0.951, 0.95, 0.70]
    assert [p.id for p in added] == [1, 2, 3, 4]
    assert review_order_key(added[1]) < review_order_key(added[0])


def test_accept_auto_skips_covered_and_undo_restores(setup) -> None:
    project, stack, queue = setup
    whole = disc(H, W, 40, 30, 20)
    part = disc(H, W, 40, 30, 8)
    edge = disc(H, W, 58, 30, 9)  # about half outside the whole disc
    other = disc(H, W, 5, 5, 4)
    queue.add_proposals(
        "img0.png", [draft(part, 0.9), draft(whole, 0.92), draft(edge, 0.9), draft(other, 0.5)]
    )
    first = queue.start()
    assert first is not None and first.mask.area == int(whole.sum())
    iid = queue.accept(default_category=2)
    inst = project.image("img0.png").instance(iid)
    assert inst.category_id == 2 and inst.source == "auto" and np.array_equal(inst.mask.array(), whole)
    states = {p.mask.area: p.state for p in queue.proposals("img0.png")}
    assert states[int(part.sum())] is ProposalState.SKIPPED
    assert states[int(edge.sum())] is ProposalState.PENDING
    assert queue.current().mask.area == int(edge.sum())
    assert queue.counts("img0.png") == (2, 4)
    stack.undo()
    assert project.image("img0.png").instances == ()
    assert all(p.is_pending for p in queue.proposals("img0.png"))
    assert queue.current().id == first.id
    stack.redo()
    assert len(project.image("img0.png").instances) == 1 and queue.counts() == (2, 4)


def test_reject_skip_back_merge_and_categories(setup) -> None:
    project, stack, queue = setup
    a, b, c, d = (disc(H, W, x, 30, 6) for x in (10, 30, 50, 70))
    queue.add_proposals(
        "img0.png", [draft(a, 0.9), draft(b, 0.85), draft(c, 0.8), draft(d, 0.75, category_id=2)]
    )
    queue.add_proposals("img1.png", [draft(a, 0.9)])
    queue.start("img0.png")
    first = queue.accept(default_category=1)
    queue.reject()  # b
    merged_into = queue.merge()  # c into a's object
    assert merged_into == first
    merged = project.image("img0.png").instance(first).mask.array()
    assert merged[30, 10] and merged[30, 50] and not merged[30, 30]
    assert queue.current().category_id == 2
    iid = queue.accept(default_category=1)  # suggested category wins over the default
    assert project.image("img0.png").instance(iid).category_id == 2
    assert queue.cursor[0] == "img1.png"  # image done: next image with pending proposals
    queue.skip()
    assert queue.current() is None and queue.counts() == (5, 5)
    states = [p.state for p in queue.proposals("img0.png")]
    assert states == [
        ProposalState.ACCEPTED,
        ProposalState.REJECTED,
        ProposalState.MERGED,
        ProposalState.ACCEPTED,
    ]
    # back to the merged proposal and re-decide: refused; undo goes back step by step
    queue.start("img0.png")
    assert queue.current() is None
    queue.show("img0.png", queue.proposals("img0.png")[2].id)
    with pytest.raises(ReviewError):
        queue.reject()
    stack.undo()  # skip on img1
    assert queue.current().file_name == "img1.png" and queue.current().is_pending
    stack.undo()  # accept of d
    stack.undo()  # merge of c
    assert not project.image("img0.png").instance(first).mask.array()[30, 50]
    assert queue.current().mask.array()[30, 50] and queue.current().is_pending
    assert queue.back().mask.array()[30, 30]  # back: the rejected one
    with pytest.raises(ReviewError, match="no category"):
        queue.accept(99)
    queue.accept(2)  # re-decide a rejected proposal with an explicit category
    assert [i.category_id for i in project.image("img0.png").instances] == [1, 2]


def test_merge_needs_an_accepted_object_and_reject_of_accepted_removes_it(setup) -> None:
    project, stack, queue = setup
    queue.add_proposals("img0.png", [draft(disc(H, W, 20, 20, 5), 0.9), draft(disc(H, W, 60, 30, 5), 0.8)])
    queue.start()
    with pytest.raises(ReviewError):
        queue.merge()
    queue.accept(1)
    queue.back()
    queue.reject()  # the accepted one: its object goes, in one step
    assert project.image("img0.png").instances == ()
    stack.undo()
    assert len(project.image("img0.png").instances) == 1


def test_new_proposals_covered_by_existing_objects_are_skipped(setup) -> None:
    project, _stack, queue = setup
    add(project, "img0.png", disc(H, W, 30, 30, 12))
    new = queue.add_proposals(
        "img0.png", [draft(disc(H, W, 30, 30, 10), 0.9), draft(disc(H, W, 70, 10, 5), 0.9)]
    )
    assert [p.state for p in new] == [ProposalState.SKIPPED, ProposalState.PENDING]
    assert "covered" in new[0].reason
    with pytest.raises(Exception, match="proposal mask"):
        queue.add_proposals("img0.png", [draft(np.ones((10, 10), bool), 0.5)])


def test_replace_pending_keeps_decided(setup) -> None:
    _project, _stack, queue = setup
    queue.add_proposals("img0.png", [draft(disc(H, W, 20, 20, 5), 0.9), draft(disc(H, W, 60, 30, 5), 0.8)])
    queue.start()
    queue.reject()
    queue.add_proposals("img0.png", [draft(disc(H, W, 40, 40, 5), 0.7)])
    states = sorted(p.state.value for p in queue.proposals("img0.png"))
    assert states == ["pending", "rejected"]
    ids = [p.id for p in queue.proposals("img0.png")]
    assert len(set(ids)) == 2 and 3 in ids  # ids never reused


def test_save_restore_resumes_at_first_undecided(setup, tmp_path) -> None:
    project, _stack, queue = setup
    masks = [disc(H, W, x, 30, 6) for x in (10, 30, 50)]
    queue.add_proposals("img0.png", [draft(m, 0.9 - i * 0.1, "persam", 2) for i, m in enumerate(masks)])
    queue.start()
    queue.accept()
    queue.reject()
    path = tmp_path / "project.json"
    save_project(project, path)
    restored = load_project(path, tmp_path)
    queue2 = ReviewQueue(restored, UndoStack())
    assert [p.to_json() for p in queue2.proposals("img0.png")] == [
        p.to_json() for p in queue.proposals("img0.png")
    ]
    current = queue2.start()
    assert current is not None and current.mask.array()[30, 50] and current.source == "persam"
    assert queue2.counts() == (2, 3)
    new = queue2.add_proposals("img1.png", [draft(masks[0], 0.5)])
    assert new[0].id == 4  # the id counter was saved too
    iid = queue2.accept(default_category=1)
    assert restored.image("img0.png").instance(iid).source == "persam"


def test_export_contains_only_accepted(setup, tmp_path) -> None:
    project, _stack, queue = setup
    masks = [disc(H, W, x, 30, 6) for x in (10, 30, 50)]
    queue.add_proposals("img0.png", [draft(m, 0.9 - i * 0.1) for i, m in enumerate(masks)])
    queue.start()
    queue.accept(1)
    queue.reject()
    queue.skip()
    out = tmp_path / "out.json"
    export_coco(project, out)
    coco = COCO(str(out))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 1 and np.array_equal(coco.annToMask(anns[0]).astype(bool), masks[0])


def test_draft_from_generator_records() -> None:
    mask = disc(H, W, 20, 20, 5)
    record = {
        "segmentation": mask,
        "predicted_iou": 0.91,
        "stability_score": 0.97,
        "point_coords": [[20, 20]],
    }
    d = draft_from_record(record, "auto-sam", points_per_side=8)
    assert d.score == pytest.approx(0.91) and d.provenance["points_per_side"] == 8
    assert np.array_equal(d.mask.array(), mask)
    rle = Mask.from_array(mask).to_json()
    d2 = draft_from_record({"segmentation": dict(rle), "predicted_iou": 0.5}, "auto-classic")
    assert d2.mask == d.mask
