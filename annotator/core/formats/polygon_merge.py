"""One polygon per object, for formats that read one polygon per object (YOLO segmentation).

An object with several parts is joined into one ring the way Ultralytics' own COCO converter does it
(``merge_multi_segment`` in ``ultralytics/data/converter.py``): consecutive parts are linked at their closest
vertices, the walk goes out through every part on a forward pass and comes back along the same links on a
return pass, so each link is a zero-width bridge crossed twice. Holes are already joined to their exterior the
same way (:func:`annotator.core.geometry.geometry_to_bridged_polygons`). Filled by crossing parity
(pycocotools, and OpenCV's ``fillPoly`` that Ultralytics uses for its training masks), a bridge adds nothing.

Written here from that description (a middle part keeps its orientation; Ultralytics reverses it).
"""

from __future__ import annotations

import numpy as np

from annotator.core.geometry import CocoPolygons


def _closest(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Indices of the closest pair of vertices of ``a`` (``N x 2``) and ``b`` (``M x 2``)."""
    squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(squared)), squared.shape)
    return int(i), int(j)


def merge_rings(rings: CocoPolygons | list[np.ndarray]) -> np.ndarray:
    """One ``N x 2`` ring through every ring of ``rings`` (flat COCO lists or ``N_i x 2`` arrays, pixel
    coordinates). One ring is returned as it is. Cost: ``O(sum of N_i * N_(i+1))`` for the closest vertices.
    """
    parts = [np.asarray(ring, dtype=np.float64).reshape(-1, 2) for ring in rings]
    if len(parts) == 1:
        return parts[0]
    entry = [0] * len(parts)  # where the walk enters part i (from part i-1)
    exit_ = [0] * len(parts)  # where it leaves part i for part i+1
    for i in range(1, len(parts)):
        exit_[i - 1], entry[i] = _closest(parts[i - 1], parts[i])
    entry[0] = exit_[0]
    last = len(parts) - 1
    exit_[last] = entry[last]
    forward: list[np.ndarray] = []
    back: list[np.ndarray] = []
    for i, part in enumerate(parts):
        rolled = np.roll(part, -entry[i], axis=0)
        if i in (0, last):  # the whole ring, closed back to where the walk entered it
            forward.append(np.concatenate([rolled, rolled[:1]]))
            continue
        out = (exit_[i] - entry[i]) % len(part)
        forward.append(rolled[: out + 1])
        back.append(np.concatenate([rolled[out:], rolled[:1]]))  # the rest of the ring, back to the entry
    return np.concatenate(forward + back[::-1])
