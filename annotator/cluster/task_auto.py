"""The ``auto`` task: automatic object proposals of one image, as the single-process ``auto`` command makes them.

The shard record holds the image's displayed size and its COCO annotations without ids (``image_id`` and
``id`` are given at the merge, in folder order, so the merged file is the single-process command's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from annotator.cluster.tasks import ImageResult, ImageTask


@dataclass
class AutoTask(ImageTask):
    """``params``: the generator's keyword arguments (``annotator.cli.auto_cmd.proposal_params``)."""

    kind = "auto"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._segmenter: Any = None

    def identity(self) -> dict[str, Any]:
        return {
            "task": self.kind,
            "model": self.model.identity(),
            "params": dict(sorted(self.params.items())),
        }

    def open(self) -> str:
        self._segmenter = self.model.load()
        return str(getattr(self._segmenter, "model_id", "unknown"))

    def process(self, folder: str, name: str, item: Any = None) -> ImageResult:
        from annotator.cli.auto_cmd import to_annotations
        from annotator.cluster.sources import load_source_image
        from sam_model.classic.auto import generate_proposals

        rgb = load_source_image(folder, name).rgb
        start = time.perf_counter()
        records = generate_proposals(self._segmenter, rgb, output_mode="coco_rle", **self.params)
        annotations = to_annotations(records, 0, 0)
        for annotation in annotations:
            del annotation["id"], annotation["image_id"]
        record = {
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "engine": str(getattr(self._segmenter, "model_id", "unknown")),
            "annotations": annotations,
        }
        return ImageResult(name, record=record, seconds=time.perf_counter() - start)
