"""Shared builders of the dataset-import tests: a project of plain images and the masks the datasets mean.

Every intended mask is rasterised with pycocotools from the object's own polygons (outer rings minus holes,
each part separately), so a format that must bridge holes and parts into one ring (YOLO) is compared with
what the object really is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from annotator.core.model import Project

W, H = 80, 64
"""Image size: 1/80 and 1/64 are exact in 6 decimals, so normalised coordinates lose nothing."""


def write_image(path: Path, w: int = W, h: int = H) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(path)
    return path


def project_with_images(root: Path, names: list[str], w: int = W, h: int = H) -> Project:
    """A project over ``root`` whose images ``names`` exist at the top of the folder (no records yet)."""
    for name in names:
        write_image(root / name, w, h)
    return Project(root)


def poly_mask(rings: list[list[float]], h: int = H, w: int = W) -> np.ndarray:
    """pycocotools' rasterisation of the union of ``rings``."""
    rle = mask_utils.merge(mask_utils.frPyObjects(rings, h, w))
    return mask_utils.decode(rle).astype(bool)


def rect(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ra = mask_utils.encode(np.asfortranarray(a.astype(np.uint8)))
    rb = mask_utils.encode(np.asfortranarray(b.astype(np.uint8)))
    return float(mask_utils.iou([ra], [rb], [0])[0][0])


# The objects every format test writes (pixel coordinates of an 80 x 64 image).
PENTAGON = [[20.0, 6.0, 34.0, 14.0, 30.0, 30.0, 12.0, 30.0, 8.0, 14.0]]
HOLED_OUTER, HOLED_HOLE = rect(40, 8, 70, 38), rect(50, 18, 60, 28)
TWO_PARTS = [rect(4, 40, 16, 56), rect(24, 44, 36, 58)]
TINY = [rect(74, 58, 76, 60)]  # 2 x 2 pixels


def holed_mask() -> np.ndarray:
    return poly_mask([HOLED_OUTER]) & ~poly_mask([HOLED_HOLE])


def instances(project: Project, key: str) -> list:
    return list(project.image(key).instances)


def by_category(project: Project, key: str, name: str) -> list:
    category = project.category_by_name(name)
    assert category is not None, name
    return [i for i in project.image(key).instances if i.category_id == category.id]
