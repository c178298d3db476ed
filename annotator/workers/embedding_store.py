"""The segment worker's persistent embedding cache: the :class:`EmbeddingStore` protocol it uses, and
:class:`DiskCacheStore`, which adapts ``annotator.core.embedding_cache.EmbeddingCache`` (keyed by the pixels'
hash) to it."""

from __future__ import annotations

from typing import Protocol

from annotator.core.embedding_cache import EmbeddingCache
from sam_model.protocol import ImageEmbedding


class EmbeddingStore(Protocol):
    """A persistent embedding cache (``annotator.core.embedding_cache.EmbeddingCache`` fits)."""

    def get(self, image_key: str, model_id: str) -> ImageEmbedding | None: ...

    def put(self, image_key: str, model_id: str, embedding: ImageEmbedding) -> None: ...

    def discard(self, image_key: str, model_id: str) -> None: ...


class DiskCacheStore:
    """Adapts :class:`EmbeddingCache` (whose ``put`` takes the model id from the embedding) to
    :class:`EmbeddingStore`."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache

    def get(self, image_key: str, model_id: str) -> ImageEmbedding | None:
        return self.cache.get(image_key, model_id)

    def put(self, image_key: str, model_id: str, embedding: ImageEmbedding) -> None:
        if embedding.model_id != model_id:
            raise ValueError(f"embedding of {embedding.model_id!r} stored as {model_id!r}")
        self.cache.put(image_key, embedding)

    def discard(self, image_key: str, model_id: str) -> None:
        self.cache.discard(image_key, model_id)
