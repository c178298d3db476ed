"""COCO export following DESIGN.md's conventions, with the choices a trainer needs.

* ``images`` (``images=``): ``annotated`` (default: images with at least one written annotation, or marked
  done: a checked image without objects is a true negative), ``done`` (marked done) or ``all``. Images that
  cannot be read (status ``error``) are never written (reported): their size is unknown.
* ``categories``: the project's ids (stable), or ``1..N`` in project order with ``contiguous_ids=True``.
* ``annotations``: ids from 1, ``iscrowd`` int, ``area`` = the pixel count of what is written (the
  segmentation decoded with pycocotools), ``bbox`` = ``[x, y, w, h]`` of it (pixels, ints). Empty masks are
  never written (reported). ``segmentation`` by mode:

  - ``auto`` (default): polygons that decode with pycocotools to exactly the mask, holes included: a hole is
    joined to its exterior by a zero-width cut (``geometry_to_bridged_polygons``), so detectron2's default
    polygon mode loads every object with its holes. Objects no exact polygon reproduces are written as
    compressed RLE and listed in ``report.rle_objects``. Crowd regions are always RLE. Known exact polygons
    (imported, or from a polygon edit) are written as they are, so import -> export changes no mask.
  - ``polygon``: as ``auto``, and where exact polygons fail, approximate ones with IoU >= 0.98 (a warning
    names them); below that RLE with a warning.
  - ``rle``: compressed RLE for every annotation.

The file is written atomically.
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.atomic import atomic_write_bytes
from annotator.core.errors import CocoError, ModelError
from annotator.core.formats.output import check_cancel
from annotator.core.formats.selection import IMAGE_CHOICES as IMAGE_CHOICES
from annotator.core.formats.selection import ExportSelection, Progress, select_for_export
from annotator.core.formats.tracing import bridged, decode_crop, mask_rings, rasterise
from annotator.core.geometry import CocoPolygons, mask_iou
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
    boxes: int = 0
    empty_skipped: int = 0
    images_skipped: int = 0
    rle_objects: list[str] = field(default_factory=list)
    """Objects (not crowd regions) no polygon could reproduce: written as RLE."""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what was written and left out."""
        return (
            f"{self.images} images, {self.annotations} annotations ({self.polygons} polygons, {self.rle} RLE"
            f"{f', {len(self.rle_objects)} objects only as RLE' if self.rle_objects else ''}); "
            f"{self.images_skipped} images and {self.empty_skipped} empty masks not written"
        )


def _shift(polygons: CocoPolygons, dx: int, dy: int) -> CocoPolygons:
    shift = np.array([dx, dy], dtype=np.float64)
    return [
        np.round(np.asarray(ring, dtype=np.float64).reshape(-1, 2) + shift, 3).ravel().tolist()
        for ring in polygons
    ]


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


@dataclass
class Written:
    """One annotation's segmentation as written, with ``area``/``bbox`` of what it decodes to."""

    segmentation: Any
    kind: str  # "polygon" | "rle" | "box" (box-only: no segmentation)
    area: float
    bbox: list[Any]
    warning: str | None = None
    rle_only: bool = False  # an object polygons could not reproduce


def _polygons_for(crop: np.ndarray, fill_holes: bool) -> tuple[CocoPolygons, np.ndarray]:
    """Polygons of a bbox crop (holes bridged, or filled) and what pycocotools rasterises them to.

    The outline is traced exactly (:func:`~annotator.core.formats.tracing.mask_rings`: OpenCV, checked, with
    :func:`~annotator.core.geometry.mask_to_geometry`'s shapely union as the fallback)."""
    parts = mask_rings(crop)
    rings = [exterior if fill_holes else bridged(exterior, holes) for exterior, holes in parts]
    if not rings:
        return [], np.zeros_like(crop)
    return [ring.ravel().tolist() for ring in rings], rasterise(rings, *crop.shape)


def segmentation_for(instance: Instance, mode: str, label: str) -> Written:
    """How ``instance`` (a non-empty mask) is written under ``mode``."""
    mask = instance.mask
    rle = {"size": list(mask.rle["size"]), "counts": mask.rle["counts"]}
    if instance.box is not None:  # box-only: the box as imported, no segmentation
        x, y, w, h = instance.box
        return Written(None, "box", w * h, [x, y, w, h])
    as_rle = Written(rle, "rle", int(mask.area), [int(v) for v in mask.bbox])
    if mode == "rle" or instance.iscrowd:
        return as_rle
    if instance.polygons is not None:  # exact by the Instance invariant
        return Written([list(p) for p in instance.polygons], "polygon", as_rle.area, as_rle.bbox)
    x, y, w, h = mask.bbox
    crop = decode_crop(mask)  # not the shared decode cache: exports run in a worker thread
    polygons, decoded = _polygons_for(crop, fill_holes=False)
    if polygons and np.array_equal(decoded, crop):
        return Written(_shift(polygons, x, y), "polygon", as_rle.area, as_rle.bbox)
    if mode == "polygon":
        polygons, decoded = _polygons_for(crop, fill_holes=True)
        iou = mask_iou(decoded, crop) if polygons else 0.0
        if iou >= MIN_POLYGON_IOU:
            bx, by, bw, bh = _bbox(decoded)
            warning = f"{label}: written as approximate polygons (IoU {iou:.3f})"
            return Written(
                _shift(polygons, x, y), "polygon", int(decoded.sum()), [bx + x, by + y, bw, bh], warning
            )
        as_rle.warning = f"{label}: polygons cannot represent this mask (IoU {iou:.3f}), written as RLE"
    as_rle.rle_only = True
    return as_rle


def build_coco(
    project: Project, mode: str | None = None, *, images: str = "annotated", contiguous_ids: bool = False
) -> tuple[dict[str, Any], ExportReport]:
    """The COCO dict of ``project`` and a report. ``mode``: ``auto``/``polygon``/``rle`` (default: the
    project's); ``images``: one of :data:`IMAGE_CHOICES`; ``contiguous_ids``: categories numbered ``1..N``."""
    mode = project.settings.segmentation_mode if mode is None else mode
    if mode not in SEGMENTATION_MODES:
        raise ModelError(f"segmentation mode must be one of {SEGMENTATION_MODES}, got {mode!r}")
    return build_coco_from(select_for_export(project, images), mode, contiguous_ids=contiguous_ids)


def build_coco_from(
    selection: ExportSelection,
    mode: str,
    *,
    contiguous_ids: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> tuple[dict[str, Any], ExportReport]:
    """The COCO dict of an export selection (:func:`~annotator.core.formats.selection.select_for_export`)
    and a report; safe in a background thread (reads only the snapshot). ``progress(done, total)`` after
    each image; ``cancel`` set: :class:`~annotator.core.formats.output.ExportCancelled`."""
    if mode not in SEGMENTATION_MODES:
        raise ModelError(f"segmentation mode must be one of {SEGMENTATION_MODES}, got {mode!r}")
    category_ids = {c.id: (c.index + 1 if contiguous_ids else c.id) for c in selection.categories}
    report = ExportReport(images_skipped=selection.images_skipped, empty_skipped=selection.empty_skipped)
    report.warnings += selection.warnings
    out_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for record in selection.images:
        check_cancel(cancel)
        image_id = len(out_images) + 1
        image = {
            "id": image_id,
            "file_name": record.file_name,
            "width": record.width,
            "height": record.height,
        }
        out_images.append({**record.coco_extras, **image})
        for instance in record.instances:
            item = segmentation_for(instance, mode, f"{record.file_name}, object {instance.id}")
            if item.warning:
                report.warnings.append(item.warning)
            if item.rle_only:
                report.rle_objects.append(f"{record.file_name}, object {instance.id}")
            report.rle += item.kind == "rle"
            report.polygons += item.kind == "polygon"
            report.boxes += item.kind == "box"
            annotation = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_ids[instance.category_id],
                "segmentation": item.segmentation,
                "area": item.area,
                "bbox": item.bbox,
                "iscrowd": int(instance.iscrowd),
            }
            if item.kind == "box":
                del annotation["segmentation"]
            annotations.append({**(instance.coco_extras or {}), **annotation})
        if progress is not None:
            progress(image_id, len(selection.images))
    categories = [
        {"id": category_ids[c.id], "name": c.name, "supercategory": c.supercategory}
        for c in selection.categories
    ]
    report.images, report.annotations = len(out_images), len(annotations)
    coco = {
        "info": {
            "description": "Exported by sam-annotator",
            "date_created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "licenses": [],
        **selection.project_coco_extras,  # keys of an imported file: info, licenses...
        "images": out_images,
        "annotations": annotations,
        "categories": categories,
    }
    return coco, report


def export_coco(
    project: Project,
    path: str | Path,
    mode: str | None = None,
    *,
    images: str = "annotated",
    contiguous_ids: bool = False,
) -> ExportReport:
    """Write ``project`` as a COCO JSON file at ``path`` (atomic; options as :func:`build_coco`). Raises
    :class:`CocoError` if it cannot."""
    coco, report = build_coco(project, mode, images=images, contiguous_ids=contiguous_ids)
    return write_coco(coco, report, path)


def write_coco(coco: dict[str, Any], report: ExportReport, path: str | Path) -> ExportReport:
    """Write a built COCO dict at ``path`` (atomic) and return ``report`` with its path. Raises
    :class:`CocoError` if it cannot."""
    path = Path(path)
    try:
        atomic_write_bytes(path, json.dumps(coco, separators=(",", ":")).encode("utf-8"))
    except OSError as exc:
        raise CocoError(path, f"cannot write: {exc}") from exc
    report.path = path
    return report
