"""The ``encode`` task: one image's embedding, stored in the embedding cache by the driver.

The actor decodes the image, keys it (:func:`~annotator.core.embedding_cache.image_key`) and, when the cache
folder is visible on its node and already holds a valid entry, returns no embedding; otherwise it encodes and
returns the embedding (float32, as the single-process ``encode`` stores it). The driver puts it into the cache
before writing the image's shard, so a shard always means "the cache has this image".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.cluster.tasks import ImageResult, ImageTask


@dataclass
class EncodeTask(ImageTask):
    """``cache_dir``: the embedding cache folder; ``max_bytes``: its size limit (as ``encode``'s)."""

    kind = "encode"
    cache_dir: str = ""
    max_bytes: int = 0

    def __post_init__(self) -> None:
        self._segmenter: Any = None
        self._cache: Any = None

    def identity(self) -> dict[str, Any]:
        return {"task": self.kind, "model": self.model.identity(), "cache_dir": self.cache_dir}

    def _open_cache(self) -> Any:
        if self._cache is None:
            from annotator.core.embedding_cache import EmbeddingCache

            self._cache = EmbeddingCache(Path(self.cache_dir), self.max_bytes)
        return self._cache

    def open(self) -> str:
        self._segmenter = self.model.load()
        return str(self._segmenter.model_id)

    def process(self, folder: str, name: str, item: Any = None) -> ImageResult:
        from annotator.cli.encode_cmd import as_float32
        from annotator.cluster.sources import load_source_image
        from annotator.core.embedding_cache import image_key

        rgb = load_source_image(folder, name).rgb
        key = image_key(rgb)
        model_id = str(self._segmenter.model_id)
        record = {"key": key, "model_id": model_id, "width": int(rgb.shape[1]), "height": int(rgb.shape[0])}
        if Path(self.cache_dir).is_dir() and self._open_cache().get(key, model_id) is not None:
            return ImageResult(name, record={**record, "cached": True})
        start = time.perf_counter()
        self._segmenter.set_image(rgb)
        embedding = as_float32(self._segmenter.get_embedding())
        seconds = time.perf_counter() - start
        return ImageResult(name, record={**record, "cached": False}, payload=embedding, seconds=seconds)

    def commit(self, result: ImageResult) -> dict[str, Any]:
        record = dict(result.record or {})
        if result.payload is not None:
            record["stored"] = bool(self._open_cache().put(record["key"], result.payload))
        return record
