"""A project that exercises every export format: holes, several parts, 1-3 px objects, overlaps, a box-only
object, a crowd region, an empty mask, an unreadable image, a negative and an image left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.masks import Mask
from annotator.core.model import ImageStatus, Project
from tests.core.helpers import add, disc, ring, write_image

H, W = 60, 80


def tiny(h: int, w: int, x: int, y: int, size: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[y : y + size, x : x + size] = True
    return mask


def two_parts() -> np.ndarray:
    return disc(H, W, 60, 12, 6) | disc(H, W, 66, 45, 5) | tiny(H, W, 40, 52, 2)


def rasterise(rings: list[list[float]], height: int, width: int) -> np.ndarray:
    """pycocotools' reading of polygons (union of rings, crossing parity inside a ring)."""
    rle = mask_utils.merge(mask_utils.frPyObjects([list(map(float, r)) for r in rings], height, width))
    return mask_utils.decode(rle).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def build(tmp_path: Path) -> Project:
    """Images ``img0`` (every kind of object), ``img1`` (done, no objects: a negative), ``img2`` (nothing:
    left out by the default filter), ``broken.jpg`` (unreadable: never written)."""
    return fill(Project(tmp_path))


def fill(project: Project) -> Project:
    """:func:`build` into an existing, empty ``project`` (the images are written into its root)."""
    project.add_category("cat")
    project.add_category("dog", (1, 2, 3), "animal")
    project.add_category("tiny")  # id 3
    for i in range(3):
        write_image(project.root / f"img{i}.png", W, H)
        project.add_image(f"img{i}.png", W, H)
    add(project, "img0.png", ring(H, W, 22, 22, 14, 6), 1)  # a hole
    add(project, "img0.png", two_parts(), 2)  # three parts
    add(project, "img0.png", tiny(H, W, 2, 55, 1), 3)  # 1 px
    add(project, "img0.png", tiny(H, W, 6, 54, 2), 3)  # 2 px
    add(project, "img0.png", tiny(H, W, 11, 53, 3), 3)  # 3 px
    add(project, "img0.png", disc(H, W, 34, 22, 6), 2)  # on top of the ring: covers part of it
    add(project, "img0.png", np.zeros((H, W), bool), 1)  # empty: never written
    box = tiny(H, W, 45, 30, 8)
    project.add_instance(
        "img0.png", project.new_instance(Mask.from_array(box), 1, box=(45.0, 30.0, 8.0, 8.0))
    )
    add(project, "img0.png", disc(H, W, 70, 30, 3), 1, iscrowd=1)
    project.set_image_status("img1.png", ImageStatus.DONE)
    project.add_image("broken.jpg", 1, 1, status=ImageStatus.ERROR, error="cannot decode")
    return project
