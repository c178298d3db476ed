"""COCO export following DESIGN.md's conventions.

* ``images``: ids from 1 in project order, ``file_name`` relative to the project root, size as displayed.
* ``categories``: the project's ids (stable, never renumbered), ``name``, ``supercategory``.
* ``annotations``: ids from 1, ``iscrowd`` int, ``area`` = mask pixel count, ``bbox`` = ``[x, y, w, h]`` of
  the mask (pixels, ints), ``segmentation`` by mode:

  - ``auto``: polygons when the mask has no holes and its polygons reproduce it (IoU >= 0.98 after rasterising
    with pycocotools; our polygons follow pixel edges, so they are exact), otherwise compressed RLE
    (``counts`` a str). Crowd regions (``iscrowd`` 1) and empty masks are always RLE. Known exact polygons
    (imported, or from a polygon edit) are written as they are, so import -> export changes no mask.
  - ``polygon``: polygons wherever the outer outlines reproduce the mask with IoU >= 0.98; holes too small to
    matter are filled (a warning says so). A mask polygons cannot represent (big holes) still falls back to
    RLE with a warning naming the annotation: silently filling a doughnut would train the wrong shape.
  - ``rle``: compressed RLE for every annotation.

The file is written atomically.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from annotator.core.atomic import atomic_write_bytes
from annotator.core.errors import CocoError, ModelError
from annotator.core.geometry import (
    CocoPolygons,
    coco_polygons_to_mask,
    geometry_to_coco_polygons,
    has_holes,
    mask_iou,
    mask_to_geometry,
)
from annotator.core.model import SEGMENTATION_MODES, Instance, Project

MIN_POLYGON_IOU = 0.98


@dataclass
class ExportReport:
    """What an export wrote; ``warnings`` are one-line messages for the user."""

    path: Path | None = None
    images: int = 0
    annotations: int = 0
    polygons: int = 0
    rle: int = 0
    warnings: list[str] = field(default_factory=list)


def _shift(polygons: CocoPolygons, dx: int, dy: int) -> CocoPolygons:
    out = []
    for ring in polygons:
        pts = np.asarray(ring, dtype=np.float64).reshape(-1, 2) + np.array([dx, dy])
        out.append([round(float(v), 3) for v in pts.ravel()])
    return out


def _polygons_for(
    mask: np.ndarray, bbox: tuple[int, int, int, int], fill_holes: bool
) -> tuple[CocoPolygons, float]:
    """Polygons of the mask (computed on its bbox crop) and their IoU with it after pycocotools
    rasterising."""
    x, y, w, h = bbox
    crop = np.ascontiguousarray(mask[y : y + h, x : x + w])
    geometry = mask_to_geometry(crop)
    if fill_holes:
        geometry = MultiPolygon([Polygon(p.exterior) for p in geometry.geoms])
    polygons = geometry_to_coco_polygons(geometry)
    if not polygons:
        return [], 0.0
    return _shift(polygons, x, y), mask_iou(coco_polygons_to_mask(polygons, h, w), crop)


def segmentation_for(instance: Instance, mode: str, label: str) -> tuple[Any, str, str | None]:
    """``(segmentation, "polygon" | "rle", warning or None)`` for one instance under ``mode``."""
    rle = {"size": list(instance.mask.rle["size"]), "counts": instance.mask.rle["counts"]}
    if mode == "rle" or instance.iscrowd or instance.mask.area == 0:
        warning = f"{label}: empty mask" if instance.mask.area == 0 else None
        return rle, "rle", warning
    if instance.polygons is not None:
        return [list(p) for p in instance.polygons], "polygon", None
    array = instance.mask.array()
    holes = has_holes(array)
    if mode == "auto" and holes:
        return rle, "rle", None
    polygons, iou = _polygons_for(array, instance.mask.bbox, fill_holes=holes)
    if iou >= MIN_POLYGON_IOU:
        warning = f"{label}: small holes filled in its polygons (IoU {iou:.3f})" if holes else None
        return polygons, "polygon", warning
    if mode == "polygon":
        return rle, "rle", f"{label}: polygons cannot represent this mask (IoU {iou:.3f}), written as RLE"
    return rle, "rle", None


def build_coco(project: Project, mode: str | None = None) -> tuple[dict[str, Any], ExportReport]:
    """The COCO dict of ``project`` and a report. ``mode``: ``auto``/``polygon``/``rle`` (default:
    project's)."""
    mode = project.settings.segmentation_mode if mode is None else mode
    if mode not in SEGMENTATION_MODES:
        raise ModelError(f"segmentation mode must be one of {SEGMENTATION_MODES}, got {mode!r}")
    report = ExportReport()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, record in enumerate(project.images, start=1):
        images.append(
            {"id": image_id, "file_name": record.file_name, "width": record.width, "height": record.height}
        )
        for instance in record.instances:
            ann_id = len(annotations) + 1
            label = f"annotation {ann_id} ({record.file_name}, object {instance.id})"
            segmentation, kind, warning = segmentation_for(instance, mode, label)
            if warning:
                report.warnings.append(warning)
            if kind == "rle":
                report.rle += 1
            else:
                report.polygons += 1
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": instance.category_id,
                    "segmentation": segmentation,
                    "area": int(instance.mask.area),
                    "bbox": [int(v) for v in instance.mask.bbox],
                    "iscrowd": int(instance.iscrowd),
                }
            )
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in project.categories]
    report.images, report.annotations = len(images), len(annotations)
    coco = {
        "info": {
            "description": "Exported by sam-annotator",
            "date_created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    return coco, report


def export_coco(project: Project, path: str | Path, mode: str | None = None) -> ExportReport:
    """Write ``project`` as a COCO JSON file at ``path`` (atomic). Raises :class:`CocoError` if it cannot."""
    path = Path(path)
    coco, report = build_coco(project, mode)
    try:
        atomic_write_bytes(path, json.dumps(coco, separators=(",", ":")).encode("utf-8"))
    except OSError as exc:
        raise CocoError(path, f"cannot write: {exc}") from exc
    report.path = path
    return report
