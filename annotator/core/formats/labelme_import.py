"""labelme JSON import: one file per image, its area shapes to objects (labelme 5.x, read back to 3.x).

The image is ``imagePath`` relative to the JSON file (matched to the project by path, else by file name, else
the JSON's stem); ``imageWidth``/``imageHeight`` must be its size as displayed. Shapes with the same ``label``
and ``group_id`` (not null) are the parts of one object, as labelme's own converters join them: polygons (and
circles, rasterised as polygons) become one polygon object of several rings, a lone rectangle a box-only
object, any part with a ``mask`` makes the union an exact mask. Shapes with no area (points, lines) are
reported as not importable. Category ids: the project's for a known name, else fresh ones after them, in order
of first use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core import limits
from annotator.core.errors import LimitError, MaskError
from annotator.core.formats.dataset import DatasetBuilder, DatasetError
from annotator.core.formats.detect import labelme_files
from annotator.core.formats.image_match import ImageMatcher
from annotator.core.formats.labelme_shapes import Part, ShapeError, paste, read_part
from annotator.core.geometry import coco_polygons_to_mask
from annotator.core.masks import encode_rle
from annotator.core.model import Project

MAX_LABELME_BYTES = 1 << 30
"""Largest labelme JSON read (they may embed the image as base64)."""
MAX_FILES = 1_000_000


class _Names:
    """Category ids for labelme's names: the project's id for a known name, else fresh ids."""

    def __init__(self, project: Project, builder: DatasetBuilder) -> None:
        self.project, self.builder = project, builder
        self.ids: dict[str, int] = {}
        self.next = max([c.id for c in project.categories], default=0) + 1

    def id(self, name: str) -> int:
        if name not in self.ids:
            existing = self.project.category_by_name(name)
            if existing is not None:
                self.ids[name] = existing.id
            else:
                self.ids[name], self.next = self.next, self.next + 1
            self.builder.add_category(self.ids[name], name)
        return self.ids[name]


def read_labelme(project: Project, path: Path) -> DatasetBuilder:
    """The labelme file ``path`` or the labelme files under the folder ``path`` as a COCO dataset of
    ``project``'s images; :class:`DatasetError` when there is none (or the one file is unusable)."""
    builder = DatasetBuilder(path, "labelme")
    names = _Names(project, builder)
    matcher = ImageMatcher(project, builder)
    if path.is_file():
        _read_file(builder, matcher, names, path, _load(path), path.name)
        return builder
    if not path.is_dir():
        raise DatasetError(path, "not found")
    files = labelme_files(path)
    if not files:
        raise DatasetError(path, "no labelme JSON files (with 'shapes') in this folder or its subfolders")
    for file in files[:MAX_FILES]:
        shown = file.relative_to(path).as_posix()
        try:
            data = _load(file)
        except DatasetError as exc:
            builder.error(shown, exc.reason)
            continue
        _read_file(builder, matcher, names, file, data, shown)
    return builder


def _load(path: Path) -> dict[str, Any]:
    try:
        data = limits.read_json(path, max_bytes=MAX_LABELME_BYTES)
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except LimitError as exc:
        raise DatasetError(path, str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"not valid JSON ({exc})") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(path, f"cannot read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DatasetError(path, "not a labelme file (no 'shapes' list)")
    return data


def _image(file: Path, data: dict[str, Any]) -> tuple[Path, bool]:
    name = data.get("imagePath")
    if isinstance(name, str) and name.strip():
        return file.parent / name.replace("\\", "/"), False  # a Windows path: its file name still matches
    return file.with_suffix(".jpg"), True


def _read_file(
    builder: DatasetBuilder,
    matcher: ImageMatcher,
    names: _Names,
    file: Path,
    data: dict[str, Any],
    shown: str,
) -> None:
    image, guess = _image(file, data)
    key = matcher.match(image, guess=guess)
    size = matcher.size(key) if key is not None else None
    if key is None or size is None:
        return
    width, height = size
    declared = (data.get("imageWidth"), data.get("imageHeight"))
    if all(isinstance(v, int) for v in declared) and declared != size:
        builder.error(
            shown, f"imageWidth x imageHeight {declared[0]}x{declared[1]} but {key} is {width}x{height}"
        )
        return
    image_id = builder.image_id(key, width, height)
    groups: dict[tuple[str, tuple[str, Any]], list[tuple[str, Part]]] = {}
    for number, shape in enumerate(data["shapes"], start=1):
        where = f"{shown} shape {number}"
        label = shape.get("label") if isinstance(shape, dict) else None
        if not isinstance(label, str) or not label.strip():
            builder.error(where, "not a shape with a non-empty 'label'")
            continue
        try:
            part = read_part(shape, height, width)
        except ShapeError as exc:
            builder.error(where, f"{label!r}: {exc}")
            continue
        group = shape.get("group_id")
        joined = group is not None and isinstance(group, int | str) and not isinstance(group, bool)
        groups.setdefault((label.strip(), ("group", group) if joined else ("shape", number)), []).append(
            (where, part)
        )
    for (label, _group), parts in groups.items():
        _add_object(builder, names.id(label), image_id, parts, height, width)


def _add_object(
    builder: DatasetBuilder,
    category_id: int,
    image_id: int,
    parts: list[tuple[str, Part]],
    height: int,
    width: int,
) -> None:
    where = parts[0][0] if len(parts) == 1 else f"{parts[0][0]} (+{len(parts) - 1} parts of its group)"
    if len(parts) == 1 and parts[0][1].box is not None:
        builder.add_annotation(image_id, category_id, where, bbox=parts[0][1].box)
        return
    rings = [ring for _w, part in parts for ring in part.rings()]
    masks = [part.mask for _w, part in parts if part.mask is not None]
    if not masks:
        builder.add_annotation(image_id, category_id, where, segmentation=rings)
        return
    union = np.zeros((height, width), bool)
    try:
        if rings:
            limits.check_polygon_extent(rings, height, width)
            union |= coco_polygons_to_mask(rings, height, width)
    except (LimitError, MaskError) as exc:
        builder.error(where, f"malformed polygon: {exc}")
        return
    for mask in masks:
        paste(union, mask)
    builder.add_annotation(image_id, category_id, where, segmentation=encode_rle(union))
