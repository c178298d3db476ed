"""YOLO segmentation / detection import: label files to a COCO dataset in memory (Ultralytics' label rules).

One line per object: ``class x1 y1 x2 y2 ...`` (a polygon, at least 3 points) or ``class cx cy w h`` (a box),
coordinates normalised to ``0..1`` by the image's width and height as displayed (EXIF applied, as Ultralytics
loads it). Rules, as Ultralytics checks them: the class is an integer id of the class names; a coordinate
outside ``0..1`` is refused (a rounding excess of at most ``1e-6`` is clipped). A line that breaks them is
skipped and reported; the rest of the file is imported.

Format ``yolo-seg`` (and detection from the files): polygons become mask objects, boxes box-only objects.
Format ``yolo-det``: every line is a box (a polygon gives its bounding box, as Ultralytics' detection task
reads a segmentation set).
"""

from __future__ import annotations

import math
from pathlib import Path

from annotator.core.formats.dataset import DatasetBuilder, DatasetError, read_text
from annotator.core.formats.image_match import ImageMatcher
from annotator.core.formats.yolo_layout import read_layout
from annotator.core.model import Project

MAX_LABEL_BYTES = 64 << 20
"""Largest label file read."""
_SLACK = 1e-6


def read_yolo(project: Project, path: Path, mode: str = "auto") -> DatasetBuilder:
    """The YOLO dataset ``path`` (folder or ``data.yaml``) as a COCO dataset of ``project``'s images.

    ``mode``: ``"seg"``, ``"det"`` or ``"auto"`` (``builder.format`` then says which one the files hold).
    Raises :class:`DatasetError` when ``path`` is not a YOLO dataset."""
    layout = read_layout(path)
    builder = DatasetBuilder(path, "yolo-det" if mode == "det" else "yolo-seg")
    for cid, name in sorted(layout.names.items()):
        builder.add_category(cid, name)
    matcher = ImageMatcher(project, builder)
    polygons = 0
    base = path if path.is_dir() else path.parent
    for label, image in layout.pairs:
        shown = _shown(label, base)
        key = matcher.match(image if image is not None else label.with_suffix(".jpg"), guess=image is None)
        size = matcher.size(key) if key is not None else None
        if key is None or size is None:
            continue
        try:
            text = read_text(label, MAX_LABEL_BYTES, "label file")
        except DatasetError as exc:
            builder.error(shown, exc.reason)
            continue
        image_id = builder.image_id(key, *size)
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                polygons += _read_line(
                    builder, image_id, size, line, f"{shown} line {number}", layout.names, mode
                )
    if mode == "auto" and not polygons:
        builder.format = "yolo-det"
    if not layout.pairs:
        builder.warn(str(path), "no label files found")
    return builder


def _shown(label: Path, base: Path) -> str:
    try:
        return label.relative_to(base).as_posix()
    except ValueError:
        return str(label)


def _read_line(
    builder: DatasetBuilder,
    image_id: int,
    size: tuple[int, int],
    line: str,
    where: str,
    names: dict[int, str],
    mode: str,
) -> int:
    """Add the object of one label line (or report why not); 1 when it was a polygon."""
    try:
        values = [float(v) for v in line.split()]
    except ValueError:
        builder.error(where, "not a list of numbers")
        return 0
    cls, coords = values[0], values[1:]
    if not math.isfinite(cls) or not cls.is_integer() or int(cls) not in names:
        builder.error(where, f"class {line.split()[0]!r} is not one of the dataset's class ids")
        return 0
    if not all(math.isfinite(v) for v in coords) or (
        coords and (min(coords) < -_SLACK or max(coords) > 1 + _SLACK)
    ):
        builder.error(where, "coordinates must be normalised to 0..1 (Ultralytics refuses this label)")
        return 0
    coords = [min(max(v, 0.0), 1.0) for v in coords]
    width, height = size
    if len(coords) == 4:
        cx, cy, w, h = coords
        if w <= 0 or h <= 0:
            builder.error(where, "the box has no width or height")
            return 0
        box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
        builder.add_annotation(image_id, int(cls), where, bbox=box)
        return 0
    if len(coords) < 6 or len(coords) % 2:
        builder.error(
            where, f"{len(coords)} coordinates: a box needs 4, a polygon an even number, at least 6"
        )
        return 0
    xs = [x * width for x in coords[0::2]]
    ys = [y * height for y in coords[1::2]]
    if mode == "det":
        x0, y0 = min(xs), min(ys)
        w, h = max(xs) - x0, max(ys) - y0
        if w <= 0 or h <= 0:
            builder.error(where, "the polygon's bounding box has no width or height")
            return 0
        builder.add_annotation(image_id, int(cls), where, bbox=[x0, y0, w, h])
        return 1
    ring = [v for xy in zip(xs, ys, strict=True) for v in xy]
    builder.add_annotation(image_id, int(cls), where, segmentation=[ring])
    return 1
