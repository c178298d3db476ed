"""Our PyTorch implementation of Segment Anything (SAM) and the engines behind the segmenter protocol.

Pure PyTorch + NumPy (+ OpenCV, pycocotools). Nothing here imports Qt or ``annotator``.
"""

from sam_model.errors import CheckpointError, SamModelError
from sam_model.protocol import ImageEmbedding, Prediction, Segmenter

__all__ = ["CheckpointError", "ImageEmbedding", "Prediction", "SamModelError", "Segmenter"]
