"""COCO import into an existing project, reported item by item.

Accepts what pycocotools accepts: polygons, compressed RLE (``counts`` str) and uncompressed RLE (``counts`` a
list), ``iscrowd`` 0/1 as int or bool. Rules:

* categories are matched **by name** (ignoring case and surrounding spaces) to the project's; a new name keeps
  its COCO id when that id is free in the project, otherwise it gets a fresh id (so importing into an empty
  project keeps every id, and importing twice never duplicates a category);
* images are matched by ``file_name`` (relative to the project root); the file must exist and its size as
  displayed (EXIF applied) must equal the COCO ``width``/``height``;
* an annotation is imported when its image and category were accepted and its segmentation decodes to the
  image size; polygons are kept with the instance so export writes them unchanged (import -> export changes no
  mask).

Every rejected item gives an :class:`ImportMessage` and the rest goes on. Only a file that is not a COCO
dataset at all raises :class:`CocoError`.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from annotator.core.errors import CocoError, ImageLoadError, MaskError, ModelError
from annotator.core.geometry import coco_polygons_to_mask
from annotator.core.images import read_image_info
from annotator.core.masks import Mask, normalize_rle
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
    messages: list[ImportMessage] = field(default_factory=list)

    @property
    def errors(self) -> list[ImportMessage]:
        return [m for m in self.messages if m.level == "error"]

    def summary(self) -> str:
        return (
            f"{self.path}: {self.annotations_imported} annotations imported; "
            f"images {self.images_added} added, "
            f"{self.images_matched} matched; categories {self.categories_added} added, "
            f"{self.categories_matched} matched; {len(self.errors)} items skipped"
        )

    def _error(self, item: str, message: str) -> None:
        self.messages.append(ImportMessage("error", item, message))

    def _warn(self, item: str, message: str) -> None:
        self.messages.append(ImportMessage("warning", item, message))


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CocoError(path, "file not found") from None
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def import_coco(project: Project, path: str | Path) -> ImportReport:
    """Import the COCO file ``path`` into ``project`` (image files under ``project.root``); one ``reset``
    event."""
    path = Path(path)
    data = _load(path)
    report = ImportReport(path)
    with project.events.blocked():
        categories = _import_categories(project, data.get("categories", []), report)
        images = _import_images(project, data["images"], report)
        for ann in data.get("annotations", []):
            _import_annotation(project, ann, images, categories, report)
    project.emit_reset()
    return report


def _import_categories(project: Project, items: list[Any], report: ImportReport) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for item in items:
        label = f"category {item.get('id')!r}" if isinstance(item, dict) else "category"
        if not isinstance(item, dict) or not _is_int(item.get("id")) or not isinstance(item.get("name"), str):
            report._error(label, "needs an integer 'id' and a string 'name'")
            continue
        if item["id"] in mapping:
            report._error(label, "duplicate category id")
            continue
        existing = project.category_by_name(item["name"])
        if existing is not None:
            mapping[item["id"]] = existing.id
            report.categories_matched += 1
            continue
        free = item["id"] >= 1 and not project.has_category(item["id"])
        try:
            category = project.add_category(
                item["name"],
                supercategory=str(item.get("supercategory") or ""),
                id=item["id"] if free else None,
            )
        except ModelError as exc:
            report._error(label, str(exc))
            continue
        mapping[item["id"]] = category.id
        report.categories_added += 1
        if not free:
            report._warn(label, f"id already used in the project; {item['name']!r} got id {category.id}")
    return mapping


def _import_images(project: Project, items: list[Any], report: ImportReport) -> dict[int, str]:
    accepted: dict[int, str] = {}
    for item in items:
        label = f"image {item.get('id')!r}" if isinstance(item, dict) else "image"
        if (
            not isinstance(item, dict)
            or not _is_int(item.get("id"))
            or not isinstance(item.get("file_name"), str)
        ):
            report._error(label, "needs an integer 'id' and a string 'file_name'")
            continue
        key = _image_key(project, item["file_name"])
        label = f"image {item['id']} ({key or item['file_name']})"
        if key is None:
            report._error(label, "file_name must be a path inside the image folder (relative, no '..')")
            continue
        width, height = item.get("width"), item.get("height")
        if not (_is_int(width) and _is_int(height)):
            report._error(label, "needs integer 'width' and 'height'")
            continue
        if item["id"] in accepted:
            report._error(label, "duplicate image id")
            continue
        if project.has_image(key):
            record = project.image(key)
            if (record.width, record.height) != (width, height):
                report._error(
                    label, f"size {width}x{height} differs from the project's {record.width}x{record.height}"
                )
                continue
            accepted[item["id"]] = key
            report.images_matched += 1
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
        accepted[item["id"]] = key
        report.images_added += 1
    return accepted


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


def _decode(segmentation: Any, height: int, width: int) -> tuple[Mask, tuple[tuple[float, ...], ...] | None]:
    if isinstance(segmentation, list):
        array = coco_polygons_to_mask(segmentation, height, width)
        return Mask.from_array(array), tuple(tuple(float(v) for v in ring) for ring in segmentation)
    if isinstance(segmentation, dict):
        rle = normalize_rle(segmentation)
        if tuple(rle["size"]) != (height, width):
            raise MaskError(f"RLE size {rle['size']} differs from the image size [{height}, {width}]")
        return Mask(rle), None
    raise MaskError("segmentation must be a list of polygons or an RLE dict")


def _import_annotation(
    project: Project, ann: Any, images: dict[int, str], categories: dict[int, int], report: ImportReport
) -> None:
    if not isinstance(ann, dict):
        report._error("annotation", "not a JSON object")
        return
    label = f"annotation {ann.get('id')!r}"
    image_id, coco_category_id = ann.get("image_id"), ann.get("category_id")
    key = images.get(image_id) if _is_int(image_id) else None
    if key is None:
        report._error(label, f"image id {ann.get('image_id')!r} unknown or not imported")
        return
    category_id = categories.get(coco_category_id) if _is_int(coco_category_id) else None
    if category_id is None:
        report._error(label, f"unknown category id {ann.get('category_id')!r}")
        return
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1) or not isinstance(iscrowd, int):
        report._error(label, f"iscrowd must be 0/1 or a bool, got {iscrowd!r}")
        return
    record = project.image(key)
    try:
        mask, polygons = _decode(ann.get("segmentation"), record.height, record.width)
    except MaskError as exc:
        report._error(label, f"malformed segmentation: {exc}")
        return
    if mask.area == 0:
        report._warn(label, "empty mask")
    score = ann.get("score")
    instance = project.new_instance(
        mask,
        category_id,
        iscrowd=int(iscrowd),
        source="import",
        score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        polygons=polygons,
    )
    project.add_instance(key, instance)
    report.annotations_imported += 1
