"""labelme JSON export (the format labelme 5.x opens): one ``<stem>.json`` beside each image.

Layout of ``out``: ``<stem><suffix>`` (the image, linked or copied; nothing to do when ``out`` is the image
folder itself) and ``<stem>.json`` beside it, subfolders kept. Each file has ``version``, ``flags`` ``{}``,
``shapes``, ``imagePath`` (the image's name, relative to the JSON file), ``imageData`` ``null`` (labelme reads
the image from ``imagePath``), ``imageHeight`` and ``imageWidth`` (as displayed: labelme applies the EXIF
orientation too).

Shapes: one ``polygon`` per part of an object, in COCO's pixel-edge coordinates (what labelme2coco converters
pass on unchanged); the parts of one object share a ``group_id`` (unique in the file; ``null`` for one-part
objects). labelme polygons have no holes: holes are filled, reported with the IoU of the written polygons
against the mask (rasterised with pycocotools). A box-only object is a ``rectangle`` (two corners). Crowd
regions are not written (labelme has none): reported.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from annotator.core.formats.output import (
    ExportError,
    FormatReport,
    check_cancel,
    place_image,
    prepare_folder,
    write_text,
)
from annotator.core.formats.selection import ExportSelection, Progress, output_stems
from annotator.core.formats.tracing import decode_crop, mask_rings, rasterise
from annotator.core.geometry import mask_iou
from annotator.core.model import Instance

LABELME_VERSION = "5.5.0"
"""The ``version`` written: a labelme 5.x release whose JSON this matches (labelme warns on other majors)."""


def object_parts(instance: Instance) -> tuple[list[np.ndarray], int, float]:
    """The exterior rings of ``instance`` (``N x 2`` pixel coordinates each), its number of holes, and the
    IoU of the filled rings (pycocotools) against the mask."""
    x, y, w, h = instance.mask.bbox
    crop = decode_crop(instance.mask)
    parts = mask_rings(crop)
    exteriors = [exterior for exterior, _holes in parts]
    holes = sum(len(part_holes) for _exterior, part_holes in parts)
    iou = mask_iou(rasterise(exteriors, h, w), crop) if holes else 1.0
    return [ring + np.array([x, y]) for ring in exteriors], holes, iou


def _shape(label: str, points: list[list[float]], shape_type: str, group_id: int | None) -> dict[str, Any]:
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": None,
    }


def labelme_document(image_path: str, height: int, width: int, shapes: list[dict[str, Any]]) -> dict:
    """The labelme JSON dict of one image (``image_path`` relative to the JSON file)."""
    return {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }


def export_labelme(
    selection: ExportSelection,
    out: str | Path,
    *,
    image_mode: str = "link",
    overwrite: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> FormatReport:
    """Write ``selection`` as labelme JSON files in ``out``. Raises :class:`ExportError`, or
    :class:`~annotator.core.formats.output.ExportCancelled` when ``cancel`` is set."""
    out = Path(out)
    prepare_folder(out, overwrite=overwrite)
    report = FormatReport(format="labelme", path=out)
    report.images_skipped, report.empty_skipped = selection.images_skipped, selection.empty_skipped
    report.warnings += selection.warnings
    stems, renamed = output_stems([image.file_name for image in selection.images], flat=False)
    report.warnings += renamed
    names = {c.id: c.name for c in selection.categories}
    min_iou: float | None = None
    for done, image in enumerate(selection.images):
        check_cancel(cancel)
        shapes: list[dict[str, Any]] = []
        groups = 0
        for instance in image.instances:
            label = f"{image.file_name}, object {instance.id}"
            name = names[instance.category_id]
            if instance.iscrowd:
                report.not_written.append(f"{label}: a crowd region (labelme has none)")
                continue
            report.objects += 1
            if instance.box is not None:
                x, y, w, h = instance.box
                shapes.append(_shape(name, [[x, y], [x + w, y + h]], "rectangle", None))
                continue
            rings, holes, iou = object_parts(instance)
            min_iou = iou if min_iou is None else min(min_iou, iou)
            if holes:
                report.changed.append(f"{label}: {holes} hole(s) filled (labelme has none; IoU {iou:.3f})")
            group: int | None = None
            if len(rings) > 1:
                groups += 1
                group = groups
            for ring in rings:
                points = np.round(ring, 3).tolist()
                shapes.append(_shape(name, points, "polygon", group))
        stem = stems[image.file_name]
        suffix = PurePosixPath(image.file_name).suffix
        target = out / f"{stem}{suffix}"
        try:
            report.copied_images += place_image(image.path, target, image_mode)
        except ExportError as exc:
            report.warnings.append(f"{image.file_name}: JSON written, image not: {exc.reason}")
        document = labelme_document(target.name, image.height, image.width, shapes)
        write_text(out / f"{stem}.json", json.dumps(document, ensure_ascii=False, separators=(",", ":")))
        report.images += 1
        if progress is not None:
            progress(done + 1, len(selection.images))
    report.min_polygon_iou = min_iou
    return report
