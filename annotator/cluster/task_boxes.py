"""The ``boxes-to-masks`` task: one image's box prompts segmented, as the single-process command does it.

The driver holds the boxes (a project's box-only objects or a COCO file's, a
:class:`~annotator.core.box_objects.BoxSet`) and sends each image's :class:`~annotator.core.box_objects.BoxImage`
with its batch (:meth:`BoxesTask.item`), so an actor never reads the project or the input file. The actor runs
:func:`~annotator.cli.box_job.segment_image_boxes`; embeddings are taken from the embedding cache when its folder
is visible on the node, never written there by a worker. :func:`merge_boxes` gives the single-process file.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from annotator.cluster.shards import STATUS_OK, ShardStore
from annotator.cluster.tasks import ClusterError, ImageFailure, ImageResult, ImageTask


@dataclass
class BoxesTask(ImageTask):
    """``boxes``: image name -> its boxes (driver side only; not sent to the actors as a whole)."""

    kind = "boxes-to-masks"
    boxes: dict[str, Any] = field(default_factory=dict, repr=False)
    multimask: bool = False
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        self._segmenter: Any = None
        self._set_image: Any = None
        self._digest = hashlib.sha256(
            json.dumps(
                [
                    [name, [[p.source_id, p.category_id, p.box_xyxy] for p in image.prompts]]
                    for name, image in self.boxes.items()
                ]
            ).encode("utf-8")
        ).hexdigest()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["boxes"] = {}  # each image's boxes travel with its batch (item())
        return state

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.kind,
            "model": self.model.identity(),
            "multimask": self.multimask,
            "boxes": self._digest,
        }

    def item(self, name: str) -> Any:
        return self.boxes[name]

    def open(self) -> str:
        from pathlib import Path

        self._segmenter = self.model.load()
        if self.cache_dir is not None and Path(self.cache_dir).is_dir():
            self._set_image = _cache_reader(self._segmenter, self.cache_dir)
        return str(self._segmenter.model_id)

    def process(self, folder: str, name: str, item: Any = None) -> ImageResult:
        from annotator.cli.box_job import segment_image_boxes

        start = time.perf_counter()
        result = segment_image_boxes(
            self._segmenter, folder, item, multimask=self.multimask, set_image=self._set_image
        )
        if result.error is not None:
            raise ImageFailure(result.error)
        annotations = result.to_coco(0, 0)
        for annotation in annotations:
            del annotation["id"], annotation["image_id"]
        record = {"engine": str(self._segmenter.model_id), "annotations": annotations, "notes": result.notes}
        return ImageResult(name, record=record, seconds=time.perf_counter() - start)


def _cache_reader(segmenter: Any, cache_dir: str) -> Any:
    """``set_image(rgb)`` that restores a cached embedding when there is one, and encodes otherwise (without
    storing: the cache belongs to the driver's machine)."""
    from pathlib import Path

    from annotator.core.embedding_cache import EmbeddingCache, image_key
    from sam_model.errors import SamModelError

    cache = EmbeddingCache(Path(cache_dir), 0)

    def set_image(rgb: Any) -> None:
        cached = cache.get(image_key(rgb), segmenter.model_id)
        if cached is not None:
            try:
                segmenter.set_embedding(cached)
                return
            except SamModelError:
                pass  # a stale entry: encode instead
        segmenter.set_image(rgb)

    return set_image


def merge_boxes(store: ShardStore, boxes: Any) -> dict[str, Any]:
    """The COCO proposals file of ``boxes`` (a ``BoxSet``) from the shards: the single-process command's
    (the input's image ids, else 1, 2...; annotation ids from 1). Raises :class:`ClusterError` when an image
    has no shard."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    engine = "unknown"
    for number, image in enumerate(boxes.images, start=1):
        shard = store.read(image.file_name)
        if shard is None:
            raise ClusterError(f"{image.file_name}: no result in {store.directory}; run the command again")
        if shard["status"] != STATUS_OK:
            continue
        engine = shard["record"].get("engine", engine)
        image_id = image.image_id if image.image_id is not None else number
        images.append(
            {"id": image_id, "file_name": image.file_name, "width": image.width, "height": image.height}
        )
        for annotation in shard["record"]["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **annotation})
    return {
        "info": {"description": "boxes to masks proposals", "engine": engine, "boxes": boxes.source},
        "images": images,
        "categories": boxes.categories,
        "annotations": annotations,
    }
