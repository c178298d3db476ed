"""A small in-memory LRU of image embeddings, owned by the segment worker (used only in its thread)."""

from __future__ import annotations

from collections import OrderedDict

from sam_model.protocol import ImageEmbedding


class EmbeddingLru:
    """Keeps the embeddings of the last ``capacity`` images (current + neighbours) for one engine."""

    def __init__(self, capacity: int = 3) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[str, ImageEmbedding] = OrderedDict()

    def get(self, image_id: str, model_id: str) -> ImageEmbedding | None:
        """The embedding of ``image_id`` made by ``model_id``, marking it recently used, or ``None``."""
        embedding = self._items.get(image_id)
        if embedding is None or embedding.model_id != model_id:
            return None
        self._items.move_to_end(image_id)
        return embedding

    def put(self, image_id: str, embedding: ImageEmbedding) -> None:
        """Store ``embedding``, evicting the least recently used beyond the capacity."""
        self._items[image_id] = embedding
        self._items.move_to_end(image_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._items

    def __len__(self) -> int:
        return len(self._items)
