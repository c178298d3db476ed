"""A COCO proposals file merged into a folder's review queue: ``--into-project`` of ``auto`` and
``boxes-to-masks`` (single-process and ``--cluster``; Qt-free).

:func:`auto_batch` and :func:`box_batch` turn the file a command wrote into review-queue drafts per image;
:func:`add_to_project` adds them to the folder's project as one
:class:`~annotator.core.review_batch.AddProposalsCommand` (undoable like an import) under the project's write
lock (ADR 0009), and saves once. The batch's ``tag`` (the run's identity) is kept in each proposal: images that
already hold proposals of that run are left alone, so merging twice adds nothing.

Box proposals (``boxes-to-masks`` of the project's own boxes) name their box object
(``provenance["box_instance"]``): accepting one gives that object the mask, as the app's Tools > Boxes to
masks does. They replace the image's undecided box proposals of an earlier run (undo brings those back), and a
proposal whose object is no longer a box-only object (deleted, or given a mask meanwhile) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.masks import Mask
from annotator.core.model import Project
from annotator.core.review_proposal import BOX_INSTANCE, ProposalDraft

BOX_SOURCES = ("box-sam", "box-classic")
"""Proposal sources of boxes to masks (a new run replaces the undecided ones)."""

Batch = dict[str, tuple[tuple[int, int], list[ProposalDraft]]]
"""Image name -> ((width, height), drafts): an :data:`~annotator.core.review_batch.ImageBatch`."""


@dataclass
class QueueReport:
    """What :func:`add_to_project` did: images and proposals added, images that already had the run,
    box proposals left out (their object is no longer a box), the project's load warnings."""

    images: int = 0
    proposals: int = 0
    already: int = 0
    stale: int = 0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"review queue: {self.proposals} proposals on {self.images} images added"
        if self.already:
            text += f", {self.already} images already had this run"
        if self.stale:
            text += f", {self.stale} left out (their box object is gone or has a mask)"
        return text


def _engine(coco: dict[str, Any]) -> str:
    info = coco.get("info")
    return str(info.get("engine", "unknown")) if isinstance(info, dict) else "unknown"


def _per_image(coco: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    by_image: dict[int, list[dict[str, Any]]] = {}
    for annotation in coco["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    return by_image


def auto_batch(coco: dict[str, Any], *, tag: str) -> Batch:
    """Drafts of an ``auto`` file (no category suggested; source ``auto-classic`` or ``auto-sam``)."""
    engine = _engine(coco)
    source = "auto-classic" if engine.startswith("classic") else "auto-sam"
    by_image = _per_image(coco)
    batch: Batch = {}
    for image in coco["images"]:
        drafts = [
            ProposalDraft(
                Mask(dict(a["segmentation"])),
                float(a["score"]),
                source,
                None,
                {"stability_score": a.get("stability_score"), "engine": engine, "cluster_run": tag},
            )
            for a in by_image.get(image["id"], [])
        ]
        batch[image["file_name"]] = ((int(image["width"]), int(image["height"])), drafts)
    return batch


def box_batch(coco: dict[str, Any], *, tag: str) -> Batch:
    """Drafts of a ``boxes-to-masks`` file made from the project's boxes: each names its box object
    (``source_box_id``) and suggests the box's category (source ``box-classic`` or ``box-sam``)."""
    engine = _engine(coco)
    source = "box-classic" if engine.startswith("classic") else "box-sam"
    by_image = _per_image(coco)
    batch: Batch = {}
    for image in coco["images"]:
        drafts = [
            ProposalDraft(
                Mask(dict(a["segmentation"])),
                float(a["score"]),
                source,
                int(a["category_id"]),
                {
                    BOX_INSTANCE: int(a["source_box_id"]),
                    "box": a.get("source_box"),
                    "engine": engine,
                    "cluster_run": tag,
                },
            )
            for a in by_image.get(image["id"], [])
        ]
        batch[image["file_name"]] = ((int(image["width"]), int(image["height"])), drafts)
    return batch


def live_boxes(project: Project, batch: Batch, report: QueueReport) -> Batch:
    """``batch`` without the box drafts whose object is no longer a box-only object of its image."""
    kept: Batch = {}
    for key, (size, drafts) in batch.items():
        boxes = (
            {i.id for i in project.image(key).instances if i.box is not None}
            if project.has_image(key)
            else set()
        )
        usable = [
            d for d in drafts if BOX_INSTANCE not in d.provenance or d.provenance[BOX_INSTANCE] in boxes
        ]
        report.stale += len(drafts) - len(usable)
        kept[key] = (size, usable)
    return kept


def check_unlocked(folder: Path, project_file: Path | None = None) -> None:
    """Raise :class:`~annotator.core.project_lock.ProjectLockedError` when another process holds the project's
    write lock (checked before a long run, so that it does not fail only at its end)."""
    from annotator.core.project_lock import ProjectLock, ProjectLockedError
    from annotator.core.project_store import default_project_file

    lock = ProjectLock(project_file or default_project_file(folder))
    holder = lock.holder()
    if holder is not None:
        raise ProjectLockedError(lock.project_file, holder, ProjectLock.is_stale(holder))


def add_to_project(
    folder: Path,
    batch: Batch,
    *,
    tag: str,
    replace_sources: tuple[str, ...] = (),
    project_file: Path | None = None,
    wait_s: float = 0.0,
) -> QueueReport:
    """Add ``batch`` to the review queue of ``folder``'s project as one undoable step and save.

    ``replace_sources``: the undecided proposals of these sources on the images changed are dropped (undo
    brings them back). Raises the core's errors (the lock held by another writer, an unreadable project).
    """
    from annotator.core.project_lock import ProjectLock
    from annotator.core.project_store import ProjectStore, default_project_file
    from annotator.core.review_batch import AddProposalsCommand
    from annotator.core.undo import UndoStack

    lock = ProjectLock(project_file or default_project_file(folder))
    lock.wait(max(0.0, wait_s))
    try:
        store = ProjectStore.open(folder, project_file)
        report = QueueReport(warnings=list(store.warnings))
        usable = live_boxes(store.project, batch, report)
        command = AddProposalsCommand(store.project, usable, tag=tag, replace_sources=replace_sources)
        UndoStack().push(command)
        report.images = len(command.added)
        report.proposals = sum(command.added.values())
        report.already = len(command.already)
        store.save()
    finally:
        lock.release()
    return report
