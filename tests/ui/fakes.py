"""A fake segmenter for GUI tests: a disc around the last positive click, with an optional slow encode."""

from __future__ import annotations

import threading

import numpy as np

from sam_model.errors import EmbeddingError, NoImageError
from sam_model.low_res import LowResFrame
from sam_model.protocol import ImageEmbedding, Prediction


class DiscSegmenter:
    """Implements the segmenter protocol: candidate ``k`` is a disc of radius ``radius * (k + 1)``.

    Scores rank the middle candidate best, so a multimask answer shows candidate 1 first. ``encode_gate``,
    when set, makes ``set_image`` wait until the test opens it (an image that takes long to encode).
    ``calls`` records every ``predict`` call's keyword arguments.
    """

    model_id = "fake-disc-1"
    low_res_frame = LowResFrame.LONGEST_SIDE

    def __init__(self, radius: int = 10) -> None:
        self.radius = radius
        self.encode_gate: threading.Event | None = None
        self.encoded_images: list[tuple[int, int]] = []
        self.calls: list[dict] = []
        self._size: tuple[int, int] | None = None

    @property
    def is_image_set(self) -> bool:
        return self._size is not None

    def set_image(self, image: np.ndarray) -> None:
        if self.encode_gate is not None:
            self.encode_gate.wait(timeout=20)
        self._size = (int(image.shape[0]), int(image.shape[1]))
        self.encoded_images.append(self._size)

    def reset_image(self) -> None:
        self._size = None

    def get_embedding(self) -> ImageEmbedding:
        if self._size is None:
            raise NoImageError("no image")
        return ImageEmbedding(self.model_id, self._size, self._size, {})

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        if embedding.model_id != self.model_id:
            raise EmbeddingError("foreign embedding")
        self._size = embedding.original_size

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        if self._size is None:
            raise NoImageError("no image")
        self.calls.append(
            {
                "points": point_coords,
                "labels": point_labels,
                "box": box,
                "mask_input": mask_input,
                "multimask_output": multimask_output,
            }
        )
        h, w = self._size
        yy, xx = np.mgrid[0:h, 0:w]
        if point_coords is not None and len(point_coords):
            positive = point_coords[point_labels == 1] if (point_labels == 1).any() else point_coords
            cx, cy = positive[-1]
        elif box is not None:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        else:
            cx, cy = w / 2, h / 2
        count = 3 if multimask_output else 1
        masks = np.stack(
            [(xx - cx) ** 2 + (yy - cy) ** 2 <= (self.radius * (k + 1)) ** 2 for k in range(count)]
        )
        scores = np.array([0.5, 0.9, 0.7][:count], np.float32)
        logits = np.stack([np.full((256, 256), float(k), np.float32) for k in range(count)])
        return masks, scores, logits
