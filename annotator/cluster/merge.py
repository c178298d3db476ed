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
from pathlib import Path
from typing import Any

from annotator.cluster.shards import STATUS_OK, ShardStore
from annotator.cluster.tasks import ClusterError
from annotator.core.proposal_merge import QueueReport

__all__ = ["QueueReport", "add_to_review_queue", "merge_coco", "run_tag"]


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


def add_to_review_queue(
    folder: Path, coco: dict[str, Any], *, tag: str, project_file: Path | None = None, wait_s: float = 0.0
) -> QueueReport:
    """Add the proposals of ``coco`` (:func:`merge_coco`'s) to the review queue of ``folder``'s project:
    :func:`annotator.core.proposal_merge.add_to_project` of its :func:`~annotator.core.proposal_merge.auto_batch`
    (one undoable step, under the project lock, saved once; the core's errors are raised)."""
    from annotator.core.proposal_merge import add_to_project, auto_batch

    return add_to_project(
        folder, auto_batch(coco, tag=tag), tag=tag, project_file=project_file, wait_s=wait_s
    )
