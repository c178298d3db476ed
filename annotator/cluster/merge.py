"""The end of a cluster ``auto`` run: its shards merged into the COCO proposals file, and the run's tag.

:func:`merge_coco` gives the single-process ``auto`` command's file exactly (same images in folder order, same
ids, same compressed RLE, same ``info``). With ``--into-project`` that file goes into the folder's review queue
through :func:`annotator.core.proposal_merge.add_to_project` (one undoable step under the project's write lock,
ADR 0009), tagged with :func:`run_tag` of the run's identity, so that merging twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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
