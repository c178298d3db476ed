"""Undoable review decisions and the coverage rule (Qt-free).

Every decision of the review (accept, reject, skip, merge, a re-decision) is one
:class:`ReviewDecisionCommand` on the session's :class:`~annotator.core.undo.UndoStack`: it applies the
annotation change (add, re-categorise or remove an instance, or replace a mask) and writes the image's
proposal list, so Ctrl+Z reverts both together and puts the review cursor back on the proposal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from annotator.core.masks import Mask
from annotator.core.model import Project
from annotator.core.review_proposal import Proposal, ProposalState
from annotator.core.undo import UndoCommand

WriteProposals = Callable[[str, Sequence[Proposal]], None]
MoveCursor = Callable[[str, int, bool], None]
"""``move(image_key, proposal_id, decided)``: after redo (``decided``) or undo of a decision."""


class ReviewDecisionCommand(UndoCommand):
    """One review decision: an optional annotation edit plus the proposal list before/after it.

    Args:
        key: the image.
        before, after: the image's proposals (review order) before and after the decision.
        edit: the annotation change (``None`` for reject/skip).
        proposal_id: the decided proposal (the cursor returns to it on undo).
        write: stores a proposal list (``ReviewQueue._write``); move: moves the review cursor.
    """

    def __init__(
        self,
        text: str,
        key: str,
        before: Sequence[Proposal],
        after: Sequence[Proposal],
        edit: UndoCommand | None,
        proposal_id: int,
        write: WriteProposals,
        move: MoveCursor,
    ) -> None:
        self.text = text
        self.key = key
        self.before = tuple(before)
        self.after = tuple(after)
        self.edit = edit
        self.proposal_id = proposal_id
        self._write = write
        self._move = move

    def redo(self) -> None:
        if self.edit is not None:
            self.edit.redo()
        try:
            self._write(self.key, self.after)
        except Exception:
            if self.edit is not None:
                self.edit.undo()
            raise
        self._move(self.key, self.proposal_id, True)

    def undo(self) -> None:
        self._write(self.key, self.before)
        if self.edit is not None:
            self.edit.undo()
        self._move(self.key, self.proposal_id, False)


def covered_union(
    project: Project, key: str, extra: Iterable[Mask] = (), exclude: int | None = None
) -> np.ndarray | None:
    """Union (``H x W`` bool) of the image's instances (but ``exclude`` and box-only objects: a box is not the
    object's shape) and ``extra`` masks; ``None`` when empty."""
    record = project.image(key)
    union: np.ndarray | None = None
    masks = [inst.mask for inst in record.instances if inst.id != exclude and inst.box is None]
    masks += list(extra)
    for mask in masks:
        x, y, w, h = mask.bbox
        if w == 0 or mask.shape != (record.height, record.width):
            continue
        if union is None:
            union = np.zeros((record.height, record.width), bool)
        union[y : y + h, x : x + w] |= mask.crop()  # crops: no full-size decode per object (issue 15)
    return union


def coverage(mask: Mask, union: np.ndarray | None) -> float:
    """Fraction of ``mask``'s area inside ``union`` (0 for an empty mask or union)."""
    area = mask.area
    if union is None or area == 0 or union.shape != mask.shape:
        return 0.0
    x, y, w, h = mask.bbox
    inside = np.count_nonzero(mask.crop() & union[y : y + h, x : x + w])
    return inside / area


def auto_skip_covered(
    proposals: Sequence[Proposal], union: np.ndarray | None, threshold: float
) -> list[Proposal]:
    """``proposals`` with every *pending* one covered more than ``threshold`` by ``union`` marked skipped
    (but a box object's proposal: that object is known to exist, its mask is still to decide)."""
    out: list[Proposal] = []
    for proposal in proposals:
        if proposal.is_pending and union is not None and proposal.box_instance is None:
            share = coverage(proposal.mask, union)
            if share > threshold:
                proposal = proposal.replace(
                    state=ProposalState.SKIPPED, reason=f"covered {share:.0%} by accepted objects"
                )
        out.append(proposal)
    return out
