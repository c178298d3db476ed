"""The review queue: proposals per image, a cursor, and undoable decisions (Qt-free; ADR 0005).

Storage: each image's proposals live in ``ImageRecord.extras["proposals"]`` in review order; the project-wide
counters (next proposal id, next decision number) in ``Project.extras["review"]``. Both are saved with the
project file, so a review resumes where it stopped (:meth:`ReviewQueue.start` goes to the first undecided
proposal).

Order: images in project order; on an image, confident first then large first
(:func:`~annotator.core.review_proposal.review_order_key`). After an accept or a merge, every pending proposal
of the image covered more than ``coverage_threshold`` by the image's objects is marked skipped (part of the
same undoable step), and so are new proposals already covered when they arrive.

Usage::

    queue = ReviewQueue(project, undo_stack)
    queue.add_proposals("a.png", drafts)
    queue.start()                       # cursor on the first pending proposal
    queue.accept(default_category=1)    # one undoable step; the cursor moves to the next pending one
    undo_stack.undo()                   # reverts it, the cursor returns to that proposal

``queue.events`` emits ``review_changed`` (``image_key`` = the cursor's image) after every change of the
cursor or the proposals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from annotator.core.errors import ModelError
from annotator.core.events import Event, EventEmitter
from annotator.core.masks import Mask
from annotator.core.model import Project
from annotator.core.review_commands import ReviewDecisionCommand, auto_skip_covered, covered_union
from annotator.core.review_proposal import (
    PROPOSALS_EXTRA,
    Proposal,
    ProposalDraft,
    ProposalState,
    review_order_key,
)
from annotator.core.undo import (
    AddInstanceCommand,
    RemoveInstanceCommand,
    UndoCommand,
    UndoStack,
    UpdateInstanceCommand,
    set_category_command,
    set_mask_command,
)

REVIEW_EXTRA = "review"
"""``Project.extras`` key of the counters: ``{"next_id": int, "next_seq": int}``."""


class ReviewError(ModelError):
    """A review decision that cannot be made now (message for the user, e.g. nothing to merge into)."""


class ReviewQueue:
    """Proposals of a project and the review cursor. Decisions go through ``undo_stack``."""

    def __init__(self, project: Project, undo_stack: UndoStack, *, coverage_threshold: float = 0.8) -> None:
        self.project = project
        self.undo_stack = undo_stack
        self.coverage_threshold = coverage_threshold
        self.events = EventEmitter()
        self.cursor: tuple[str, int] | None = None
        self._cache: dict[str, tuple[object, tuple[Proposal, ...]]] = {}

    # --- storage --------------------------------------------------------------------------------------
    def proposals(self, key: str) -> tuple[Proposal, ...]:
        """The image's proposals in review order (all states)."""
        if not self.project.has_image(key):
            return ()
        stored = self.project.image(key).extras.get(PROPOSALS_EXTRA)
        if not stored:
            return ()
        cached = self._cache.get(key)
        if cached is not None and cached[0] is stored:
            return cached[1]
        parsed = tuple(Proposal.from_json(key, item) for item in stored)
        self._cache[key] = (stored, parsed)
        return parsed

    def _write(self, key: str, proposals: Sequence[Proposal]) -> None:
        stored = [p.to_json() for p in proposals] if proposals else None
        self.project.set_image_extra(key, PROPOSALS_EXTRA, stored)
        if stored is not None:
            self._cache[key] = (self.project.image(key).extras[PROPOSALS_EXTRA], tuple(proposals))

    def _counters(self) -> dict[str, int]:
        data = self.project.extras.get(REVIEW_EXTRA) or {}
        return {"next_id": int(data.get("next_id", 1)), "next_seq": int(data.get("next_seq", 1))}

    def _take(self, name: str, count: int = 1) -> int:
        counters = self._counters()
        first = counters[name]
        counters[name] = first + count
        self.project.set_extra(REVIEW_EXTRA, counters)
        return first

    def add_proposals(
        self,
        key: str,
        drafts: Sequence[ProposalDraft],
        *,
        replace_pending: bool = True,
        replace_sources: Sequence[str] = (),
    ) -> list[Proposal]:
        """Put ``drafts`` into image ``key``'s queue (not undoable: nothing is annotated yet).

        ``replace_pending`` drops the image's undecided proposals first (a new run replaces the last one);
        ``replace_sources`` drops only the undecided ones of those sources (``replace_pending`` False).
        Decided ones are always kept. Drafts whose mask does not fit the image raise ``ModelError``. Returns
        the new proposals (some may already be skipped: covered by existing objects).
        """
        record = self.project.image(key)
        for draft in drafts:
            if draft.mask.shape != (record.height, record.width):
                raise ModelError(
                    f"{key}: proposal mask is {draft.mask.height}x{draft.mask.width}, the image is "
                    f"{record.height}x{record.width} (H x W)"
                )
        kept = [
            p
            for p in self.proposals(key)
            if not (p.is_pending and (replace_pending or p.source in replace_sources))
        ]
        first = self._take("next_id", len(drafts)) if drafts else 0
        new = [
            Proposal(first + i, key, d.mask, d.score, d.source, d.category_id, dict(d.provenance))
            for i, d in enumerate(drafts)
        ]
        new = auto_skip_covered(new, covered_union(self.project, key), self.coverage_threshold)
        ordered = sorted(kept + new, key=review_order_key)
        self._write(key, ordered)
        if self.cursor is not None and self.cursor[0] == key and self._find(self.cursor) is None:
            self.cursor = None
        self._changed(key)
        return new

    def clear(self, key: str, *, pending_only: bool = True) -> None:
        """Drop the image's undecided proposals (or all of them; not undoable)."""
        kept = [p for p in self.proposals(key) if pending_only and not p.is_pending]
        self._write(key, kept)
        if self.cursor is not None and self.cursor[0] == key and self._find(self.cursor) is None:
            self.cursor = None
        self._changed(key)

    # --- counts ---------------------------------------------------------------------------------------
    def counts(self, key: str | None = None) -> tuple[int, int]:
        """``(reviewed, total)`` for image ``key`` or the whole project."""
        keys = [key] if key is not None else [r.file_name for r in self.project.images]
        items = [p for k in keys for p in self.proposals(k)]
        return sum(not p.is_pending for p in items), len(items)

    def decision_counts(self, key: str | None = None) -> tuple[int, int, int]:
        """``(decided, skipped, total)`` for image ``key`` or the whole project: *decided* counts accepted,
        rejected and merged proposals only; a skipped one (by the user or covered by objects) is not decided."""
        keys = [key] if key is not None else [r.file_name for r in self.project.images]
        items = [p for k in keys for p in self.proposals(k)]
        skipped = sum(p.state is ProposalState.SKIPPED for p in items)
        decided = sum(not p.is_pending and p.state is not ProposalState.SKIPPED for p in items)
        return decided, skipped, len(items)

    # --- cursor ---------------------------------------------------------------------------------------
    def current(self) -> Proposal | None:
        """The proposal under the cursor, or ``None``."""
        return None if self.cursor is None else self._find(self.cursor)

    def _find(self, cursor: tuple[str, int]) -> Proposal | None:
        return next((p for p in self.proposals(cursor[0]) if p.id == cursor[1]), None)

    def _keys(self) -> list[str]:
        return [r.file_name for r in self.project.images]

    def start(self, key: str | None = None) -> Proposal | None:
        """Put the cursor on the first pending proposal of ``key`` or, failing that, of the images after it
        (wrapping around). ``None`` when nothing is pending."""
        keys = self._keys()
        if key is None and self.cursor is not None:
            key = self.cursor[0]
        begin = keys.index(key) if key in keys else 0
        for k in keys[begin:] + keys[:begin]:
            pending = next((p for p in self.proposals(k) if p.is_pending), None)
            if pending is not None:
                return self._set_cursor(k, pending.id)
        self.cursor = None
        self._changed(key)
        return None

    def show(self, key: str, proposal_id: int) -> Proposal:
        """Put the cursor on a given proposal (any state)."""
        if self._find((key, proposal_id)) is None:
            raise ModelError(f"{key}: no proposal {proposal_id}")
        proposal = self._set_cursor(key, proposal_id)
        if proposal is None:
            raise ModelError(f"{key}: no proposal {proposal_id}")
        return proposal

    def _set_cursor(self, key: str, proposal_id: int) -> Proposal | None:
        self.cursor = (key, proposal_id)
        self._changed(key)
        return self.current()

    def _advance(self, key: str, proposal_id: int) -> Proposal | None:
        """The first pending proposal after ``proposal_id`` on ``key``, then on the following images
        (wrapping), then before it on ``key``; cursor moved there (``None``: review finished)."""
        items = self.proposals(key)
        index = next((i for i, p in enumerate(items) if p.id == proposal_id), -1)
        for p in items[index + 1 :]:
            if p.is_pending:
                return self._set_cursor(key, p.id)
        keys = self._keys()
        begin = keys.index(key) + 1 if key in keys else 0
        for k in keys[begin:] + keys[:begin]:
            if k == key:
                continue
            pending = next((p for p in self.proposals(k) if p.is_pending), None)
            if pending is not None:
                return self._set_cursor(k, pending.id)
        for p in items[: max(index, 0)]:
            if p.is_pending:
                return self._set_cursor(key, p.id)
        self.cursor = None
        self._changed(key)
        return None

    def _on_decision_moved(self, key: str, proposal_id: int, decided: bool) -> None:
        if decided:
            self._advance(key, proposal_id)
        else:
            self._set_cursor(key, proposal_id)

    def back(self) -> Proposal | None:
        """Cursor to the previous proposal (any state), crossing to the previous image with proposals."""
        if self.cursor is None:
            return None
        key, pid = self.cursor
        items = self.proposals(key)
        index = next((i for i, p in enumerate(items) if p.id == pid), 0)
        if index > 0:
            return self._set_cursor(key, items[index - 1].id)
        keys = self._keys()
        for k in reversed(keys[: keys.index(key)] if key in keys else []):
            previous = self.proposals(k)
            if previous:
                return self._set_cursor(k, previous[-1].id)
        return self.current()

    def forward(self) -> Proposal | None:
        """Cursor to the next proposal in order (any state); past the image's last one: the next pending."""
        if self.cursor is None:
            return self.start()
        key, pid = self.cursor
        items = self.proposals(key)
        index = next((i for i, p in enumerate(items) if p.id == pid), len(items))
        if index + 1 < len(items):
            return self._set_cursor(key, items[index + 1].id)
        return self._advance(key, pid)

    # --- decisions ------------------------------------------------------------------------------------
    def _require(self) -> Proposal:
        proposal = self.current()
        if proposal is None:
            raise ReviewError("no proposal is selected for review")
        return proposal

    def _category(self, proposal: Proposal, category_id: int | None, default: int | None) -> int:
        if category_id is not None and not self.project.has_category(category_id):
            raise ReviewError(f"there is no category number {category_id}")
        for cid in (category_id, proposal.category_id, default):
            if cid is not None and self.project.has_category(cid):
                return cid
        raise ReviewError("no category: add a category before accepting a proposal")

    def _decide(
        self, text: str, proposal: Proposal, changed: Proposal, edit: UndoCommand | None, union: Any = None
    ) -> None:
        key = proposal.file_name
        before = self.proposals(key)
        after = [changed if p.id == proposal.id else p for p in before]
        if union is not None:
            after = auto_skip_covered(after, union, self.coverage_threshold)
        command = ReviewDecisionCommand(
            text, key, before, after, edit, proposal.id, self._write, self._on_decision_moved
        )
        self.undo_stack.push(command)

    def _instance_exists(self, key: str, instance_id: int | None) -> bool:
        return instance_id is not None and any(i.id == instance_id for i in self.project.image(key).instances)

    def accept(
        self, category_id: int | None = None, *, default_category: int | None = None, mask: Mask | None = None
    ) -> int:
        """Accept the current proposal as an object: ``category_id``, else its suggested category, else
        ``default_category``. ``mask`` replaces the proposal's (a refined one). Returns the instance id.

        On an already accepted proposal this changes its object's category (one step); a merged one raises
        ``ReviewError`` (undo the merge to change it). A box object's proposal (boxes to masks) gives that
        object the mask instead (same id; the box is dropped; one undoable step), or, when the object is
        gone, becomes a new object.
        """
        proposal = self._require()
        key = proposal.file_name
        cid = self._category(proposal, category_id, default_category)
        if proposal.state is ProposalState.MERGED:
            raise ReviewError(f"proposal already merged into object {proposal.instance_id}: Ctrl+Z to undo")
        if proposal.state is ProposalState.ACCEPTED and self._instance_exists(key, proposal.instance_id):
            iid = int(proposal.instance_id)  # type: ignore[arg-type]
            if self.project.image(key).instance(iid).category_id == cid:
                self.forward()
                return iid
            edit = set_category_command(self.project, key, iid, cid)
            self._decide("Review: change category", proposal, proposal, edit)
            return iid
        final_mask = mask if mask is not None else proposal.mask
        if final_mask.area == 0:
            raise ReviewError("the mask is empty: nothing to accept")
        if self._instance_exists(key, proposal.box_instance):
            return self._accept_for_box(proposal, final_mask, cid, refined=mask is not None)
        instance = self.project.new_instance(
            final_mask, cid, source=proposal.instance_source, score=round(proposal.score, 4)
        )
        changed = proposal.replace(
            state=ProposalState.ACCEPTED,
            instance_id=instance.id,
            seq=self._take("next_seq"),
            reason="refined" if mask is not None else "",
        )
        union = covered_union(self.project, key, [final_mask])
        edit = AddInstanceCommand(self.project, key, instance, "Accept proposal")
        self._decide("Review: accept", proposal, changed, edit, union)
        return instance.id

    def _accept_for_box(self, proposal: Proposal, mask: Mask, category_id: int, *, refined: bool) -> int:
        """The box object of ``proposal`` becomes a mask object: mask, category, source and score replaced."""
        key, iid = proposal.file_name, int(proposal.box_instance)  # type: ignore[arg-type]
        edit = UpdateInstanceCommand(
            self.project,
            key,
            iid,
            "Box to mask",
            mask=mask,
            polygons=None,
            category_id=category_id,
            source=proposal.instance_source,
            score=round(proposal.score, 4),
        )
        changed = proposal.replace(
            state=ProposalState.ACCEPTED,
            instance_id=iid,
            seq=self._take("next_seq"),
            reason="refined" if refined else "",
        )
        union = covered_union(self.project, key, [mask], exclude=iid)
        self._decide("Review: accept", proposal, changed, edit, union)
        return iid

    def reject(self) -> None:
        """Reject the current proposal (an accepted one also loses its object, in the same step)."""
        proposal = self._require()
        key = proposal.file_name
        if proposal.state is ProposalState.MERGED:
            raise ReviewError(f"proposal already merged into object {proposal.instance_id}: Ctrl+Z to undo")
        if proposal.state is ProposalState.REJECTED:
            self.forward()
            return
        if proposal.state is ProposalState.ACCEPTED and proposal.box_instance is not None:
            raise ReviewError(f"proposal already gave object {proposal.instance_id} its mask: Ctrl+Z to undo")
        edit: UndoCommand | None = None
        if proposal.state is ProposalState.ACCEPTED and self._instance_exists(key, proposal.instance_id):
            edit = RemoveInstanceCommand(self.project, key, int(proposal.instance_id))  # type: ignore[arg-type]
        changed = proposal.replace(
            state=ProposalState.REJECTED, instance_id=None, seq=self._take("next_seq"), reason=""
        )
        self._decide("Review: reject", proposal, changed, edit)

    def skip(self) -> None:
        """Skip the current proposal: a pending one is marked skipped (undoable); otherwise just move on."""
        proposal = self._require()
        if not proposal.is_pending:
            self.forward()
            return
        changed = proposal.replace(state=ProposalState.SKIPPED, seq=self._take("next_seq"), reason="")
        self._decide("Review: skip", proposal, changed, None)

    def merge_target(self, key: str) -> int | None:
        """The instance a merge on image ``key`` goes into: the most recently accepted proposal's object."""
        accepted = [
            p
            for p in self.proposals(key)
            if p.state is ProposalState.ACCEPTED and self._instance_exists(key, p.instance_id)
        ]
        if not accepted:
            return None
        return max(accepted, key=lambda p: p.seq or 0).instance_id

    def merge(self) -> int:
        """Merge the current proposal into the previously accepted object (mask union); returns its id."""
        proposal = self._require()
        key = proposal.file_name
        if proposal.state in (ProposalState.ACCEPTED, ProposalState.MERGED):
            raise ReviewError(f"proposal already {proposal.state.value}: Ctrl+Z to undo that first")
        target = self.merge_target(key)
        if target is None:
            raise ReviewError("nothing accepted on this image yet to merge into")
        old = self.project.image(key).instance(target).mask
        merged = Mask.from_array(np.logical_or(old.array(), proposal.mask.array()))
        edit = set_mask_command(self.project, key, target, merged, text="Merge proposal")
        changed = proposal.replace(
            state=ProposalState.MERGED, instance_id=target, seq=self._take("next_seq"), reason=""
        )
        union = covered_union(self.project, key, [merged], exclude=target)
        self._decide("Review: merge", proposal, changed, edit, union)
        return target

    # --- events ---------------------------------------------------------------------------------------
    def _changed(self, key: str | None) -> None:
        self.events.emit(Event("review_changed", self, image_key=key))
