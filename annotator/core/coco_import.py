"""COCO import into an existing project, reported item by item.

Accepts what pycocotools accepts: polygons, compressed RLE (``counts`` str) and uncompressed RLE (``counts`` a
list), ``iscrowd`` 0/1 as int or bool; what it merely tolerates is repaired and reported
(:mod:`annotator.core.coco_values`: integral floats, odd coordinate counts, bad rings, ``iscrowd: "0"``). Rules:

* categories are matched **by name** (ignoring case and surrounding spaces; a difference in case or spacing is
  reported) to the project's. The file's ids are kept (0 included) unless a project category *with
  annotations* holds the id: a category no annotation uses (e.g. the app's defaults) is moved to a fresh id
  instead of pushing the file's id aside. Importing twice never duplicates a category;
* images are matched by ``file_name`` (relative to the project root); the file must exist and its size as
  displayed (EXIF applied) must equal the COCO ``width``/``height``;
* an annotation is imported when its image and category were accepted and its segmentation decodes to the
  image size; polygons are kept with the instance so export writes them unchanged (import -> export changes no
  mask). One already in the project (same image, category, mask and ``iscrowd``) is counted and skipped, so importing a
  file twice changes nothing.

Every rejected item gives an :class:`ImportMessage` and the rest goes on. Only a file that is not a COCO
dataset at all raises :class:`CocoError`. ``report.journal`` holds the changes so that one undo step
(:class:`~annotator.core.coco_journal.ImportCocoCommand`) can revert the whole import.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from annotator.core import limits
from annotator.core.coco_journal import ImportJournal
from annotator.core.coco_values import (
    Notes,
    as_box,
    as_int,
    as_iscrowd,
    box_mask,
    decode_segmentation,
    polygons_inside,
)
from annotator.core.errors import CocoError, ImageLoadError, LimitError, MaskError, ModelError
from annotator.core.images import read_image_info
from annotator.core.model import Project


@dataclass(frozen=True)
class ImportMessage:
    """``level``: ``error`` (item skipped) or ``warning``; ``item`` e.g. ``annotation 17``; ``message``:
    why."""

    level: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.item}: {self.message}"


@dataclass
class ImportReport:
    """Counts and item-by-item messages of one import."""

    path: Path
    categories_added: int = 0
    categories_matched: int = 0
    images_added: int = 0
    images_matched: int = 0
    annotations_imported: int = 0
    annotations_duplicate: int = 0
    messages: list[ImportMessage] = field(default_factory=list)
    journal: ImportJournal | None = field(default=None, repr=False)
    format: str = "coco"
    """The dataset format read (``coco``, ``yolo-seg``, ``yolo-det``, ``voc``, ``labelme``)."""

    @property
    def errors(self) -> list[ImportMessage]:
        return [m for m in self.messages if m.level == "error"]

    def summary(self) -> str:
        return (
            f"{self.path}: {self.annotations_imported} annotations imported, "
            f"{self.annotations_duplicate} already in the project (skipped); images {self.images_added} added, "
            f"{self.images_matched} matched; categories {self.categories_added} added, "
            f"{self.categories_matched} matched; {len(self.errors)} items skipped"
        )

    def _error(self, item: str, message: str) -> None:
        self.messages.append(ImportMessage("error", item, message))

    def _warn(self, item: str, message: str) -> None:
        self.messages.append(ImportMessage("warning", item, message))

    def _repaired(self, item: str, notes: Notes) -> None:
        for note in notes:
            self._warn(item, f"repaired: {note}")
        notes.clear()


ANNOTATION_KEYS = frozenset({"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd"})
IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
DATASET_KEYS = frozenset({"images", "annotations", "categories"})
"""Keys the app reads; every other key is kept and written back on export (``info``, ``licenses``,
``attributes``, ``score``, ``track_id``, ``license``, ``date_captured``...)."""


def load_coco(path: Path) -> dict[str, Any]:
    """The COCO file ``path`` read within the limits; :class:`CocoError` when it is not a COCO dataset."""
    try:
        data = limits.read_json(path, max_bytes=limits.MAX_COCO_BYTES, finite_floats=False)
    except FileNotFoundError:
        raise CocoError(path, "file not found") from None
    except LimitError as exc:
        raise CocoError(path, str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CocoError(path, f"not valid JSON ({exc})") from None
    except OSError as exc:
        raise CocoError(path, f"cannot read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoError(path, "not a COCO dataset (no 'images' list)")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise CocoError(path, f"not a COCO dataset ('{key}' is not a list)")
    return data


def import_coco(project: Project, path: str | Path) -> ImportReport:
    """Import the COCO file ``path`` into ``project`` (image files under ``project.root``); one ``reset``
    event."""
    path = Path(path)
    return import_coco_data(project, load_coco(path), ImportReport(path))


def import_coco_data(project: Project, data: dict[str, Any], report: ImportReport) -> ImportReport:
    """Import the COCO dataset ``data`` (already read, e.g. converted from another format by
    :mod:`annotator.core.formats`) into ``project``, adding to ``report`` (whose messages may already hold the
    reader's); one ``reset`` event."""
    journal = report.journal = ImportJournal(project)
    with project.events.blocked():
        kept = {k: v for k, v in data.items() if k not in DATASET_KEYS}
        if kept and "coco" not in project.extras:
            project.set_extra("coco", kept)  # info, licenses...: written back on export
        categories = _import_categories(journal, data.get("categories", []), report)
        images = _import_images(project, data["images"], report)
        for ann in data.get("annotations", []):
            _import_annotation(journal, ann, images, categories, report)
    project.emit_reset()
    return report


def _import_categories(journal: ImportJournal, items: list[Any], report: ImportReport) -> dict[int, int]:
    project = journal.project
    mapping: dict[int, int] = {}
    used = {inst.category_id for inst in project.iter_instances()}
    notes: Notes = []

    def movable(cid: int) -> bool:
        """An id held by a category no annotation (and no earlier category of this file) uses."""
        return cid not in used and cid not in mapping.values()

    for item in items:
        label = f"category {item.get('id')!r}" if isinstance(item, dict) else "category"
        cid = as_int(item.get("id"), "category id", notes) if isinstance(item, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        if cid is None or cid < 0 or not isinstance(name, str) or not name.strip():
            report._error(label, "needs a non-negative integer 'id' and a non-empty string 'name'")
            notes.clear()
            continue
        label = f"category {cid}"
        report._repaired(label, notes)
        if cid in mapping:
            report._error(label, "duplicate category id")
            continue
        existing = project.category_by_name(name)
        if existing is not None:
            if existing.name != name:
                report._warn(
                    label,
                    f"name {name!r} differs from the category {existing.name!r} only in case or spacing: "
                    "imported into it",
                )
            if (
                existing.id != cid
                and movable(existing.id)
                and (not project.has_category(cid) or movable(cid))
            ):
                if project.has_category(cid):
                    journal.renumber_category(cid)
                existing = journal.renumber_category(existing.id, cid)  # keep the file's id
            mapping[cid] = existing.id
            report.categories_matched += 1
            continue
        if project.has_category(cid) and movable(cid):
            journal.renumber_category(cid)  # an unused category never pushes the file's id aside
        free = not project.has_category(cid)
        try:
            category = journal.add_category(
                name, None, str(item.get("supercategory") or ""), id=cid if free else None
            )
        except ModelError as exc:
            report._error(label, str(exc))
            continue
        mapping[cid] = category.id
        report.categories_added += 1
        if not free:
            report._warn(label, f"id already used in the project; {name!r} got id {category.id}")
    return mapping


def _import_images(project: Project, items: list[Any], report: ImportReport) -> dict[int, str]:
    accepted: dict[int, str] = {}
    notes: Notes = []
    for item in items:
        label = f"image {item.get('id')!r}" if isinstance(item, dict) else "image"
        image_id = as_int(item.get("id"), "image id", notes) if isinstance(item, dict) else None
        if image_id is None or not isinstance(item.get("file_name"), str):
            report._error(label, "needs an integer 'id' and a string 'file_name'")
            notes.clear()
            continue
        key = _image_key(project, item["file_name"])
        label = f"image {image_id} ({key or item['file_name']})"
        if key is None:
            report._error(label, "file_name must be a path inside the image folder (relative, no '..')")
            notes.clear()
            continue
        width = as_int(item.get("width"), "width", notes)
        height = as_int(item.get("height"), "height", notes)
        if width is None or height is None:
            report._error(label, "needs integer 'width' and 'height'")
            notes.clear()
            continue
        report._repaired(label, notes)
        if image_id in accepted:
            report._error(label, "duplicate image id")
            continue
        if project.has_image(key):
            record = project.image(key)
            if (record.width, record.height) != (width, height):
                report._error(
                    label, f"size {width}x{height} differs from the project's {record.width}x{record.height}"
                )
                continue
            accepted[image_id] = key
            report.images_matched += 1
            _keep_image_keys(project, key, item)
            continue
        try:
            info = read_image_info(project.root / key)
        except ImageLoadError as exc:
            reason = "missing image file" if exc.reason == "file not found" else exc.reason
            report._error(label, f"{reason} ({exc.path})")
            continue
        if (info.width, info.height) != (width, height):
            hint = (
                " (the COCO size is the raw size; the file has an EXIF rotation)"
                if info.has_orientation
                else ""
            )
            report._error(
                label, f"COCO size {width}x{height} but the image is {info.width}x{info.height}{hint}"
            )
            continue
        project.add_image(key, width, height, metadata={"exif_orientation": info.exif_orientation})
        accepted[image_id] = key
        report.images_added += 1
        _keep_image_keys(project, key, item)
    return accepted


def _keep_image_keys(project: Project, key: str, item: dict[str, Any]) -> None:
    kept = {k: v for k, v in item.items() if k not in IMAGE_KEYS}
    if kept and "coco" not in project.image(key).extras:
        project.set_image_extra(key, "coco", kept)


def _image_key(project: Project, file_name: str) -> str | None:
    """The project key of a COCO ``file_name``: ``/``-separated, normalised, relative to ``project.root``
    (an absolute path inside the root is made relative); ``None`` when it points outside the root."""
    name = file_name.replace("\\", "/")
    if posixpath.isabs(name) or PureWindowsPath(file_name).drive:
        try:
            name = Path(name).resolve().relative_to(project.root.resolve()).as_posix()
        except (ValueError, OSError):
            return None
    name = posixpath.normpath(name)
    if name in (".", "") or name == ".." or name.startswith("../") or posixpath.isabs(name):
        return None
    return name


def _import_annotation(
    journal: ImportJournal, ann: Any, images: dict[int, str], categories: dict[int, int], report: ImportReport
) -> None:
    project = journal.project
    if not isinstance(ann, dict):
        report._error("annotation", "not a JSON object")
        return
    notes: Notes = []
    ann_id = as_int(ann.get("id"), "annotation id", notes)
    label = f"annotation {ann_id if ann_id is not None else ann.get('id')!r}"
    image_id = as_int(ann.get("image_id"), "image_id", notes)
    key = images.get(image_id) if image_id is not None else None
    if key is None:
        report._error(label, f"image id {ann.get('image_id')!r} unknown or not imported")
        return
    coco_category_id = as_int(ann.get("category_id"), "category_id", notes)
    category_id = categories.get(coco_category_id) if coco_category_id is not None else None
    if category_id is None:
        report._error(label, f"unknown category id {ann.get('category_id')!r}")
        return
    iscrowd = as_iscrowd(ann.get("iscrowd", 0), notes)
    if iscrowd is None:
        report._error(label, f"iscrowd must be 0/1 or a bool, got {ann.get('iscrowd')!r}")
        return
    record = project.image(key)
    segmentation = ann.get("segmentation")
    box = as_box(ann.get("bbox")) if segmentation is None or segmentation == [] else None
    try:
        if box is not None:  # a box-only annotation (CVAT rectangles, Label Studio, detection sets)
            mask, polygons = box_mask(box, record.height, record.width), None
        else:
            _check_extent(segmentation, record.height, record.width)
            mask, polygons = decode_segmentation(segmentation, record.height, record.width, notes)
    except (MaskError, LimitError) as exc:
        report._error(label, f"malformed segmentation: {exc}")
        return
    report._repaired(label, notes)
    if polygons is not None and not polygons_inside([list(r) for r in polygons], record.height, record.width):
        report._warn(label, "polygon vertices outside the image: the object is clipped to the image")
        polygons = None  # export traces the clipped mask instead
    same = (category_id, iscrowd, box)
    if any((i.category_id, i.iscrowd, i.box) == same and i.mask == mask for i in record.instances):
        report.annotations_duplicate += 1
        return
    if mask.area == 0:
        report._warn(label, "empty mask")
    score = ann.get("score")
    extras = {k: v for k, v in ann.items() if k not in ANNOTATION_KEYS}
    instance = project.new_instance(
        mask,
        category_id,
        iscrowd=iscrowd,
        source="import",
        score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        polygons=polygons,
        box=box,
        coco_extras=extras or None,
    )
    journal.add_instance(key, instance)
    report.annotations_imported += 1


def _check_extent(segmentation: Any, height: int, width: int) -> None:
    """Bounds before anything is allocated (ADR 0009): polygon extents and RLE sizes against the image."""
    if isinstance(segmentation, list):
        limits.check_polygon_extent(segmentation, height, width)
    elif isinstance(segmentation, dict):
        limits.check_rle_extent(segmentation, height, width)
