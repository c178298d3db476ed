"""The review counter counts decisions, not skips (issue 13, item 8)."""

from __future__ import annotations

from annotator.core.masks import Mask
from annotator.core.review import ReviewQueue
from annotator.core.review_proposal import ProposalDraft
from annotator.core.undo import UndoStack
from tests.core.helpers import disc, make_project

H, W = 60, 80


def test_skips_are_not_decisions(tmp_path) -> None:
    project = make_project(tmp_path)
    stack = UndoStack()
    queue = ReviewQueue(project, stack)
    drafts = [
        ProposalDraft(Mask.from_array(disc(H, W, x, 30, 6)), 0.9 - i / 10, "auto-sam", None, {})
        for i, x in enumerate((10, 40, 70))
    ]
    queue.add_proposals("img0.png", drafts)
    queue.start()
    queue.skip()
    assert queue.decision_counts() == (0, 1, 3)
    assert queue.counts() == (1, 3)  # the old count: "not pending"
    queue.reject()
    assert queue.decision_counts() == (1, 1, 3)
    assert queue.decision_counts("img0.png") == (1, 1, 3)
    stack.undo()
    assert queue.decision_counts() == (0, 1, 3)
