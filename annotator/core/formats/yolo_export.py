"""YOLO export (Ultralytics layout): segmentation polygons (``yolo-seg``) or boxes (``yolo-det``).

Layout of ``out`` (with a split, ``train/`` and ``val/`` under ``images/`` and ``labels/``)::

    data.yaml                 path, train, val, names {0: name, ...} (the project's categories, in order)
    images/<stem><suffix>     the images, linked (hard, else symbolic, else copied) or copied
    labels/<stem>.txt         one line per object; an image without objects gets an empty file (a negative)

Lines, coordinates normalised by the image size (as displayed) to ``[0, 1]``, COCO's pixel-edge convention:

* ``yolo-seg``: ``class x1 y1 x2 y2 ...``, one polygon per object, as Ultralytics reads it. Holes are joined to
  their part and parts to each other by zero-width bridges (:mod:`.polygon_merge`); such objects are listed
  in ``report.changed`` with the IoU of the written polygon (rasterised with pycocotools) against the mask.
  Box-only objects have no segmentation and are not written (use ``yolo-det`` or boxes to masks).
* ``yolo-det``: ``class cx cy w h`` of the mask's bounding box (a box-only object: its box).

Crowd regions are never written (Ultralytics' converters drop them): reported. Ultralytics drops repeated
identical lines of one image: reported as well.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path, PurePosixPath

import numpy as np

from annotator.core.coco import MIN_POLYGON_IOU
from annotator.core.formats.output import (
    ExportError,
    FormatReport,
    check_cancel,
    place_image,
    prepare_folder,
    write_text,
)
from annotator.core.formats.polygon_merge import merge_rings
from annotator.core.formats.selection import ExportSelection, Progress, output_stems, split_train_val
from annotator.core.formats.tracing import bridged, decode_crop, mask_rings, rasterise
from annotator.core.geometry import mask_iou
from annotator.core.model import Instance

YOLO_TASKS = {"yolo-seg": "segment", "yolo-det": "detect"}


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (JSON escaping is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def data_yaml(out: Path, categories: list[str], *, split: bool) -> str:
    """The ``data.yaml`` Ultralytics reads: ``path``, ``train``, ``val`` and ``names`` as ``{id: name}``."""
    train, val = ("images/train", "images/val") if split else ("images", "images")
    lines = [
        "# Exported by sam-annotator",
        f"path: {_yaml_string(str(out.resolve()))}",
        f"train: {train}",
        f"val: {val}",
        f"nc: {len(categories)}",
        "names:",
        *(f"  {index}: {_yaml_string(name)}" for index, name in enumerate(categories)),
    ]
    return "\n".join(lines) + "\n"


def _numbers(values: np.ndarray) -> str:
    return " ".join(map("{:.6f}".format, np.clip(values, 0.0, 1.0).tolist()))


def segment_line(instance: Instance) -> tuple[np.ndarray, float, int, int]:
    """The one polygon of ``instance`` (``N x 2`` pixel coordinates), the IoU of its rasterisation
    (pycocotools) against the mask, and how many parts and holes were joined into it."""
    if instance.polygons is not None and len(instance.polygons) == 1:  # known exact, one ring
        return np.asarray(instance.polygons[0], dtype=np.float64).reshape(-1, 2), 1.0, 1, 0
    x, y, w, h = instance.mask.bbox
    crop = decode_crop(instance.mask)
    parts = mask_rings(crop)
    holes = sum(len(part[1]) for part in parts)
    ring = merge_rings([bridged(exterior, part_holes) for exterior, part_holes in parts])
    iou = 1.0 if len(parts) == 1 and not holes else mask_iou(rasterise([ring], h, w), crop)
    return ring + np.array([x, y]), iou, len(parts), holes


def _detect_box(instance: Instance) -> tuple[float, float, float, float]:
    if instance.box is not None:
        return instance.box
    return tuple(float(v) for v in instance.mask.bbox)  # type: ignore[return-value]


def export_yolo(
    selection: ExportSelection,
    out: str | Path,
    *,
    task: str = "yolo-seg",
    val_fraction: float = 0.0,
    seed: int = 0,
    image_mode: str = "link",
    overwrite: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> FormatReport:
    """Write ``selection`` as a YOLO dataset folder ``out`` (``task``: ``yolo-seg`` or ``yolo-det``).

    ``val_fraction`` > 0 splits the images (seeded by ``seed``). Raises :class:`ExportError`, or
    :class:`~annotator.core.formats.output.ExportCancelled` when ``cancel`` is set.
    """
    if task not in YOLO_TASKS:
        raise ExportError(Path(out), f"unknown YOLO task {task!r} (one of {tuple(YOLO_TASKS)})")
    out = Path(out)
    prepare_folder(out, overwrite=overwrite)
    report = FormatReport(format=task, path=out)
    report.images_skipped, report.empty_skipped = selection.images_skipped, selection.empty_skipped
    report.warnings += selection.warnings
    names = [image.file_name for image in selection.images]
    stems, renamed = output_stems(names, flat=False)
    report.warnings += renamed
    val = split_train_val(names, val_fraction, seed) if val_fraction > 0 else set()
    classes = {c.id: c.index for c in selection.categories}
    min_iou = 1.0
    for done, image in enumerate(selection.images):
        check_cancel(cancel)
        part = ("val/" if image.file_name in val else "train/") if val_fraction > 0 else ""
        stem = stems[image.file_name]
        lines: list[str] = []
        for instance in image.instances:
            label = f"{image.file_name}, object {instance.id}"
            if instance.iscrowd:
                report.not_written.append(f"{label}: a crowd region (YOLO has none)")
                continue
            cls = classes[instance.category_id]
            if task == "yolo-det":
                bx, by, bw, bh = _detect_box(instance)
                centre = np.array([(bx + bw / 2) / image.width, (by + bh / 2) / image.height])
                size = np.array([bw / image.width, bh / image.height])
                lines.append(f"{cls} {_numbers(np.concatenate([centre, size]))}")
                continue
            if instance.box is not None:
                report.not_written.append(f"{label}: box only, no mask (export yolo-det, or boxes to masks)")
                continue
            ring, iou, parts, holes = segment_line(instance)
            min_iou = min(min_iou, iou)
            if parts > 1 or holes:
                report.changed.append(
                    f"{label}: {parts} part(s) and {holes} hole(s) joined into one polygon by zero-width bridges "
                    f"(IoU {iou:.3f})"
                )
            if iou < MIN_POLYGON_IOU:
                report.warnings.append(f"{label}: the one polygon matches the mask only with IoU {iou:.3f}")
            lines.append(f"{cls} {_numbers((ring / [image.width, image.height]).ravel())}")
        if len(set(lines)) < len(lines):
            report.warnings.append(f"{image.file_name}: identical objects, Ultralytics keeps one of each")
        report.objects += len(lines)
        suffix = PurePosixPath(image.file_name).suffix
        write_text(out / "labels" / f"{part}{stem}.txt", "".join(line + "\n" for line in lines))
        try:
            report.copied_images += place_image(
                image.path, out / "images" / f"{part}{stem}{suffix}", image_mode
            )
        except ExportError as exc:
            report.warnings.append(f"{image.file_name}: labels written, image not: {exc.reason}")
        report.images += 1
        if progress is not None:
            progress(done + 1, len(selection.images))
    if task == "yolo-seg" and report.objects:
        report.min_polygon_iou = min_iou
    names_list = [c.name for c in selection.categories]
    write_text(out / "data.yaml", data_yaml(out, names_list, split=val_fraction > 0))
    return report
