"""The end of a cluster ``auto`` run: its shards merged into the COCO proposals file and the review queue.

:func:`merge_coco` gives the single-process ``auto`` command's file exactly (same images in folder order, same
ids, same compressed RLE, same ``info``). :func:`add_to_review_queue` puts the proposals into the folder's
project as one :class:`~annotator.core.review_batch.AddProposalsCommand` (undoable like an import), under
the project's write lock (ADR 0009); images already holding proposals of this run are left alone, so merging
twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.cluster.shards import STATUS_OK, ShardStore
from annotator.cluster.tasks import ClusterError


def merge_coco(store: ShardStore, names: Sequence[str], *, category: str) -> dict[str, Any]:
    """The COCO dataset of the shards of ``names`` (in that order); failed images are left out.

    Raises :class:`ClusterError` when an image has no shard (the run did not finish).
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    engine = "unknown"
    for name in names:
        shard = store.read(name)
        if shard is None:
            raise ClusterError(f"{name}: no result in {store.directory}; run the command again to finish")
        if shard["status"] != STATUS_OK:
            continue
        record = shard["record"]
        engine = record.get("engine", engine)
        image_id = len(images) + 1
        images.append(
            {"id": image_id, "file_name": name, "width": record["width"], "height": record["height"]}
        )
        for annotation in record["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **annotation})
    return {
        "info": {"description": "automatic proposals", "engine": engine},
        "images": images,
        "categories": [{"id": 1, "name": category, "supercategory": ""}],
        "annotations": annotations,
    }


def run_tag(identity: dict[str, Any]) -> str:
    """A short tag of a run's identity, kept in each proposal's provenance (``cluster_run``)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@dataclass
class QueueReport:
    """What :func:`add_to_review_queue` did."""

    images: int = 0
    proposals: int = 0
    already: int = 0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"review queue: {self.proposals} proposals on {self.images} images added"
            f"{f', {self.already} images already had this run' if self.already else ''}"
        )


def add_to_review_queue(
    folder: Path, coco: dict[str, Any], *, tag: str, project_file: Path | None = None, wait_s: float = 0.0
) -> QueueReport:
    """Add the proposals of ``coco`` (:func:`merge_coco`'s) to the review queue of ``folder``'s project.

    One undoable step (:class:`~annotator.core.review_batch.AddProposalsCommand`); the project is saved
    once. Raises the core's errors (a lock held by another writer, an unreadable project file).
    """
    from annotator.core.masks import Mask
    from annotator.core.project_lock import ProjectLock
    from annotator.core.project_store import ProjectStore, default_project_file
    from annotator.core.review_batch import AddProposalsCommand
    from annotator.core.review_proposal import ProposalDraft
    from annotator.core.undo import UndoStack

    engine = str(coco["info"].get("engine", "unknown"))
    source = "auto-classic" if engine.startswith("classic") else "auto-sam"
    by_image: dict[int, list[dict[str, Any]]] = {}
    for annotation in coco["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    lock = ProjectLock(project_file or default_project_file(folder))
    lock.wait(max(0.0, wait_s))
    try:
        store = ProjectStore.open(folder, project_file)
        report = QueueReport(warnings=list(store.warnings))
        batch: dict[str, tuple[tuple[int, int], list[ProposalDraft]]] = {}
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
        command = AddProposalsCommand(store.project, batch, tag=tag)
        UndoStack().push(command)
        report.images = len(command.added)
        report.proposals = sum(command.added.values())
        report.already = len(command.already)
        store.save()
    finally:
        lock.release()
    return report
