"""Reading COCO values as leniently as pycocotools does, saying what was repaired.

Each reader returns the value (or ``None`` when it is unusable) and appends one-line repair notes to
``notes``; the importer turns the notes into report warnings. Rules (what pycocotools tolerates):

* ids and sizes: an ``int``, or a float with an integral value (``6.0``: converted);
* ``iscrowd``: 0/1 as int, bool, integral float or the strings ``"0"``/``"1"`` (converted);
* polygons: a ring with an odd number of values loses its last value (pycocotools ignores it); a ring with
  fewer than 3 points or a non-number is dropped (the other rings are kept).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.errors import MaskError
from annotator.core.masks import Mask, normalize_rle

Notes = list[str]


def as_int(value: Any, what: str, notes: Notes) -> int | None:
    """``value`` as an int (integral floats converted, with a note), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        notes.append(f"{what} {value!r} converted to {int(value)}")
        return int(value)
    return None


def as_iscrowd(value: Any, notes: Notes) -> int | None:
    """0 or 1 from an int, bool, integral float or ``"0"``/``"1"``; ``None`` otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        notes.append(f"iscrowd {value!r} converted to {int(value)}")
        return int(value)
    number = as_int(value, "iscrowd", notes)
    return number if number in (0, 1) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def repair_polygons(segmentation: list[Any], notes: Notes) -> list[list[float]]:
    """The usable rings of a COCO polygon list (possibly empty), noting each repair."""
    rings = segmentation
    out: list[list[float]] = []
    for number, ring in enumerate(rings, start=1):
        label = f"polygon ring {number}" if len(rings) > 1 else "polygon"
        if not isinstance(ring, list) or not all(_is_number(v) for v in ring):
            notes.append(f"{label} is not a list of finite numbers: dropped")
            continue
        if len(ring) % 2:
            notes.append(f"{label} has an odd number of coordinates ({len(ring)}): last value dropped")
            ring = ring[:-1]
        if len(ring) < 6:
            notes.append(f"{label} has fewer than 3 points: dropped")
            continue
        out.append([float(v) for v in ring])
    return out


def as_box(value: Any) -> tuple[float, float, float, float] | None:
    """A COCO ``bbox`` ``[x, y, w, h]`` of finite numbers with ``w, h > 0``, else ``None``."""
    if not isinstance(value, list) or len(value) != 4 or not all(_is_number(v) for v in value):
        return None
    x, y, w, h = (float(v) for v in value)
    return (x, y, w, h) if w > 0 and h > 0 else None


def polygons_inside(rings: list[list[float]], height: int, width: int) -> bool:
    """Whether every vertex lies inside the image (``0 <= x <= width``, ``0 <= y <= height``)."""
    return all(min(r) >= 0 and max(r[0::2]) <= width and max(r[1::2]) <= height for r in rings)


def decode_segmentation(
    segmentation: Any, height: int, width: int, notes: Notes
) -> tuple[Mask, tuple[tuple[float, ...], ...] | None]:
    """The mask of a COCO segmentation (polygons repaired, noting it) and its polygons; ``MaskError``."""
    if isinstance(segmentation, list):
        rings = repair_polygons(segmentation, notes)
        if not rings:
            raise MaskError("no usable polygon ring (each needs at least 3 points of finite numbers)")
        # pycocotools' rasterisation (as coco_polygons_to_mask) kept as the RLE it makes: no full-image decode,
        # encode or re-validation of an RLE pycocotools itself wrote
        rle = mask_utils.merge(mask_utils.frPyObjects(rings, height, width))
        mask = Mask.from_json({"size": [height, width], "counts": rle["counts"].decode("ascii")})
        return mask, tuple(tuple(ring) for ring in rings)
    if isinstance(segmentation, dict):
        rle = normalize_rle(segmentation)
        if tuple(rle["size"]) != (height, width):
            raise MaskError(f"RLE size {rle['size']} differs from the image size [{height}, {width}]")
        return Mask(rle), None
    raise MaskError("segmentation must be a list of polygons or an RLE dict")


def box_mask(box: tuple[float, float, float, float], height: int, width: int) -> Mask:
    """The pixels a COCO box ``(x, y, w, h)`` covers, clipped to the image."""
    x, y, w, h = box
    c0, r0 = max(math.floor(x), 0), max(math.floor(y), 0)
    c1, r1 = min(math.ceil(x + w), width), min(math.ceil(y + h), height)
    array = np.zeros((height, width), bool)
    array[r0:r1, c0:c1] = True
    return Mask.from_array(array)
