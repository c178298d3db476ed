"""Object proposals waiting for review: the value type, its JSON form and the review order (Qt-free).

A :class:`Proposal` is a candidate object on one image made by a generator (SAM's automatic mask generator,
the classical proposals, PerSAM propagation...). It never is an annotation: reviewing it (accept, merge)
creates or changes an :class:`~annotator.core.model.Instance` through undoable commands
(:mod:`annotator.core.review_commands`). Proposals are stored in ``ImageRecord.extras["proposals"]`` (a JSON
list in review order), so the project file saves and restores them (ADR 0005).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.core.errors import ModelError
from annotator.core.masks import Mask

PROPOSALS_EXTRA = "proposals"
"""``ImageRecord.extras`` key holding an image's proposals (a list of :meth:`Proposal.to_json` dicts)."""

SCORE_BUCKET = 0.05
"""Scores are compared in steps of this size; within a step the larger proposal comes first."""

SOURCE_TO_INSTANCE = {
    "auto-sam": "auto",
    "auto-classic": "auto",
    "persam": "persam",
    "box-sam": "sam",
    "box-classic": "classic",
}
"""``Instance.source`` of an accepted proposal, by proposal source (default ``auto``)."""

BOX_INSTANCE = "box_instance"
"""Provenance key of a proposal made from a box-only object's box (boxes to masks): that object's id.
Accepting the proposal gives the object the mask (same id); such a proposal is never auto-skipped."""


class ProposalState(enum.StrEnum):
    """Review state. ``PENDING`` is the only undecided state; ``SKIPPED`` also covers auto-skips."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MERGED = "merged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Proposal:
    """One proposed object (immutable; change = :meth:`replace`).

    Attributes:
        id: unique in the project (``ReviewQueue`` hands them out), never reused.
        file_name: the image key.
        mask: ``H x W`` mask of the image as displayed.
        score: quality in ``[0, 1]`` (predicted IoU for SAM, boundary contrast for the classical method,
            similarity for PerSAM).
        source: who proposed it: ``auto-sam``, ``auto-classic``, ``persam``...
        category_id: suggested category (PerSAM knows it), or ``None``.
        provenance: JSON facts on how it was made (generator parameters, reference object...).
        state: the review decision.
        instance_id: the instance it became (``accepted``) or was merged into (``merged``).
        reason: why it was decided automatically, e.g. ``"covered 91% by object 12"`` (empty for the user's).
        seq: decision order in the project (``None`` while pending): the "previously accepted" instance
            for a merge is the accepted proposal with the greatest ``seq``.
    """

    id: int
    file_name: str
    mask: Mask
    score: float
    source: str
    category_id: int | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    state: ProposalState = ProposalState.PENDING
    instance_id: int | None = None
    reason: str = ""
    seq: int | None = None

    def replace(self, **changes: Any) -> Proposal:
        return dataclasses.replace(self, **changes)

    @property
    def is_pending(self) -> bool:
        return self.state is ProposalState.PENDING

    @property
    def box_instance(self) -> int | None:
        """The box-only object this proposal was made for (boxes to masks), else ``None``."""
        value = self.provenance.get(BOX_INSTANCE)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def instance_source(self) -> str:
        """``Instance.source`` for the object made from this proposal."""
        return SOURCE_TO_INSTANCE.get(self.source, "persam" if self.source.startswith("persam") else "auto")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mask": self.mask.to_json(),
            "score": self.score,
            "source": self.source,
            "category_id": self.category_id,
            "provenance": dict(self.provenance),
            "state": self.state.value,
            "instance_id": self.instance_id,
            "reason": self.reason,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, file_name: str, data: Mapping[str, Any]) -> Proposal:
        """Rebuild a saved proposal; ``ModelError`` names the image and the problem when it is malformed."""
        try:
            return cls(
                id=int(data["id"]),
                file_name=file_name,
                mask=Mask.from_json(data["mask"]),
                score=float(data["score"]),
                source=str(data["source"]),
                category_id=None if data.get("category_id") is None else int(data["category_id"]),
                provenance=dict(data.get("provenance") or {}),
                state=ProposalState(data.get("state", "pending")),
                instance_id=None if data.get("instance_id") is None else int(data["instance_id"]),
                reason=str(data.get("reason") or ""),
                seq=None if data.get("seq") is None else int(data["seq"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{file_name}: malformed saved proposal: {exc}") from exc


@dataclass(frozen=True)
class ProposalDraft:
    """A proposal before it enters the queue (no id yet): what a generator hands over."""

    mask: Mask
    score: float
    source: str
    category_id: int | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)


def draft_from_record(record: Mapping[str, Any], source: str, **provenance: Any) -> ProposalDraft:
    """A draft from a generator record (``segmentation`` as bool array, COCO RLE or uncompressed RLE).

    The score is ``predicted_iou``; ``stability_score``, ``point_coords`` and ``provenance`` go to the
    provenance.
    """
    segmentation = record["segmentation"]
    mask = Mask.from_array(segmentation) if isinstance(segmentation, np.ndarray) else Mask(segmentation)
    facts: dict[str, Any] = dict(provenance)
    for key in ("stability_score", "point_coords", "crop_box"):
        if key in record:
            facts[key] = record[key]
    return ProposalDraft(mask, float(record.get("predicted_iou", 0.0)), source, None, facts)


def review_order_key(proposal: Proposal | ProposalDraft) -> tuple[float, int]:
    """Sort key: confident first (score in :data:`SCORE_BUCKET` steps), then large first.

    Large and confident first means a whole object comes before its parts; accepting it auto-skips the parts
    it covers, rejecting it (e.g. the background) leaves them to review.
    """
    bucket = int(proposal.score / SCORE_BUCKET + 1e-9)
    return (-bucket, -proposal.mask.area)
