"""A batch of proposals for many images entering the review queue as one undoable step (Qt-free).

Used when a batch run (``main.py auto|boxes-to-masks --into-project``) hands its proposals to a project: like a
COCO import (ADR 0008) the whole batch is one :class:`~annotator.core.undo.UndoCommand`, undo removes exactly
the proposals it added (proposals decided or added since stay), and image records it added stay on undo (they
describe files of the folder and hold no annotation). Proposal ids are never reused: a redo after an undo puts
back the same proposals with the same ids.

``replace_sources``: the undecided proposals of these sources on the images the batch changes are dropped
(a new boxes-to-masks run replaces the last one, as in the app); undo puts them back.

A batch carries a ``tag`` (kept in each proposal's ``provenance["cluster_run"]``): an image that already holds
proposals with that tag is left alone, so adding the same batch twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from annotator.core.model import Project
from annotator.core.review import ReviewQueue
from annotator.core.review_proposal import PROPOSALS_EXTRA, Proposal, ProposalDraft
from annotator.core.undo import UndoCommand, UndoStack

TAG_KEY = "cluster_run"
"""``provenance`` key holding the batch's tag."""

ImageBatch = Mapping[str, tuple[tuple[int, int], Sequence[ProposalDraft]]]
"""Image name -> ((width, height) as displayed, drafts)."""


class AddProposalsCommand(UndoCommand):
    """Add ``batch`` to ``project``'s review queue (project-wide: ``image_key`` is ``None``).

    After the first ``redo``: ``added`` maps each changed image to its number of new proposals, ``already``
    lists the images skipped because they hold proposals tagged ``tag``.
    """

    def __init__(
        self, project: Project, batch: ImageBatch, *, tag: str, replace_sources: Sequence[str] = ()
    ) -> None:
        self.project = project
        self.batch = batch
        self.tag = tag
        self.replace_sources = tuple(replace_sources)
        self.text = f"Add {sum(len(d) for _, d in batch.values())} proposals"
        self.added: dict[str, int] = {}
        self.already: list[str] = []
        self._new: dict[str, tuple[Proposal, ...]] = {}
        self._dropped: dict[str, tuple[Proposal, ...]] = {}

    def redo(self) -> None:
        queue = ReviewQueue(self.project, UndoStack())
        if self._new:
            for key, new in self._new.items():
                dropped = {p.id for p in self._dropped.get(key, ())}
                kept = [p for p in queue.proposals(key) if p.id not in dropped]
                self._write(queue, key, kept + list(new))
            return
        for key, ((width, height), drafts) in self.batch.items():
            if not self.project.has_image(key):
                self.project.add_image(key, width, height)
            elif any(p.provenance.get(TAG_KEY) == self.tag for p in queue.proposals(key)):
                self.already.append(key)
                continue
            if not drafts:
                continue
            tagged = [d if d.provenance.get(TAG_KEY) == self.tag else _tagged(d, self.tag) for d in drafts]
            before = queue.proposals(key)
            self._dropped[key] = tuple(p for p in before if p.is_pending and p.source in self.replace_sources)
            self._new[key] = tuple(
                queue.add_proposals(key, tagged, replace_pending=False, replace_sources=self.replace_sources)
            )
            self.added[key] = len(drafts)

    def undo(self) -> None:
        queue = ReviewQueue(self.project, UndoStack())
        for key, new in self._new.items():
            ids = {p.id for p in new}
            kept = [p for p in queue.proposals(key) if p.id not in ids]
            self._write(queue, key, kept + list(self._dropped.get(key, ())))

    @staticmethod
    def _write(queue: ReviewQueue, key: str, proposals: Sequence[Proposal]) -> None:
        from annotator.core.review_proposal import review_order_key

        ordered = sorted(proposals, key=review_order_key)
        stored = [p.to_json() for p in ordered] if ordered else None
        queue.project.set_image_extra(key, PROPOSALS_EXTRA, stored)


def _tagged(draft: ProposalDraft, tag: str) -> ProposalDraft:
    return ProposalDraft(
        draft.mask, draft.score, draft.source, draft.category_id, {**draft.provenance, TAG_KEY: tag}
    )
