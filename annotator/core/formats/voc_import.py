"""Pascal VOC import: object PNGs to exact masks, XML boxes to box-only objects.

Per image stem (``Annotations/NAME.xml`` and/or ``SegmentationObject/NAME.png``):

* each index ``i`` of the object PNG (not 0, not 255) is one object with exactly those pixels; its class is the
  ``name`` of the ``i``-th XML object (the devkit's rule), else the class index of its pixels in
  ``SegmentationClass/NAME.png`` (majority), named by ``labelmap.txt`` / ``labels.txt`` or the 20 VOC classes;
* every XML object without pixels in an object PNG (or when there is no PNG) is a box-only object.

Category ids: the label map's index, else the VOC class index, else the next free id. The image is
``JPEGImages/<filename>`` of the XML (else ``JPEGImages/NAME.*``), matched to the project by path or file name,
and its size as displayed must be the XML's ``size`` and the PNG's. A semantic ``SegmentationClass`` PNG
without an object PNG gives no objects (reported).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.core.formats.dataset import DatasetBuilder, DatasetError
from annotator.core.formats.detect import voc_root
from annotator.core.formats.image_match import ImageMatcher
from annotator.core.formats.voc_masks import (
    VOC_CLASSES,
    VOID,
    VocXml,
    read_index_png,
    read_labelmap,
    read_xml,
)
from annotator.core.images import IMAGE_EXTENSIONS
from annotator.core.masks import encode_rle
from annotator.core.model import Project


class _Classes:
    """Class names to category ids, in order of first use."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.ids: dict[str, int] = {}

    def id(self, name: str) -> int:
        if name not in self.ids:
            if name in self.names:
                self.ids[name] = self.names.index(name)
            else:
                self.ids[name] = max([len(self.names) - 1, *self.ids.values()]) + 1
        return self.ids[name]


def read_voc(project: Project, path: Path) -> DatasetBuilder:
    """The VOC dataset under ``path`` as a COCO dataset of ``project``'s images; :class:`DatasetError` when
    ``path`` holds no ``Annotations/`` or ``SegmentationObject/`` folder."""
    root = voc_root(path) if path.is_dir() else None
    if root is None:
        raise DatasetError(path, "not a VOC dataset: no Annotations/ or SegmentationObject/ folder")
    builder = DatasetBuilder(path, "voc")
    labelmaps = [root / name for name in ("labelmap.txt", "labels.txt") if (root / name).is_file()]
    classes = _Classes(read_labelmap(labelmaps[0]) if labelmaps else list(VOC_CLASSES))
    matcher = ImageMatcher(project, builder)
    xmls = {p.stem: p for p in sorted((root / "Annotations").glob("*.xml"))}
    objects = {p.stem: p for p in sorted((root / "SegmentationObject").glob("*.png"))}
    for stem in sorted(set(xmls) | set(objects)):
        _read_image(builder, matcher, classes, root, stem, xmls.get(stem), objects.get(stem))
    semantic_only = {p.stem for p in (root / "SegmentationClass").glob("*.png")} - set(objects)
    for stem in sorted(semantic_only):
        builder.warn(f"SegmentationClass/{stem}.png", "a class mask without an object mask: no objects read")
    for name, cid in classes.ids.items():
        if name:
            builder.add_category(cid, name)
    return builder


def _image_path(root: Path, stem: str, xml: VocXml | None) -> tuple[Path, bool]:
    """The dataset's image file, and whether it is a guess (match by stem)."""
    folder = root / "JPEGImages"
    if xml is not None and xml.filename:
        return folder / xml.filename, False
    for ext in sorted(IMAGE_EXTENSIONS):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}", False
    return folder / f"{stem}.jpg", True


def _read_image(
    builder: DatasetBuilder,
    matcher: ImageMatcher,
    classes: _Classes,
    root: Path,
    stem: str,
    xml_path: Path | None,
    png_path: Path | None,
) -> None:
    xml: VocXml | None = None
    if xml_path is not None:
        try:
            xml = read_xml(xml_path)
        except DatasetError as exc:
            builder.error(f"Annotations/{xml_path.name}", exc.reason)
            if png_path is None:
                return
    image, guess = _image_path(root, stem, xml)
    key = matcher.match(image, guess=guess)
    size = matcher.size(key) if key is not None else None
    if key is None or size is None:
        return
    width, height = size
    if xml is not None and xml.size is not None and xml.size != size:
        builder.error(
            f"Annotations/{stem}.xml",
            f"size {xml.size[0]}x{xml.size[1]} but the image {key} is {width}x{height}",
        )
        return
    image_id = builder.image_id(key, width, height)
    xml_objects = xml.objects if xml is not None else []
    with_pixels: set[int] = set()
    if png_path is not None:
        with_pixels = _read_masks(
            builder, classes, root, stem, png_path, (height, width), xml_objects, image_id
        )
    for number, obj in enumerate(xml_objects, start=1):
        where = f"Annotations/{stem}.xml object {number}"
        if number in with_pixels:
            continue
        if not obj.name:
            builder.error(where, "no class name")
        elif obj.bbox is None:
            builder.error(where, "no usable bndbox (xmin <= xmax, ymin <= ymax, numbers)")
        else:
            builder.add_annotation(image_id, classes.id(obj.name), where, bbox=obj.bbox)


def _read_masks(
    builder: DatasetBuilder,
    classes: _Classes,
    root: Path,
    stem: str,
    png_path: Path,
    shape: tuple[int, int],
    xml_objects: list,
    image_id: int,
) -> set[int]:
    """Add the objects of the object PNG; the indices that had pixels."""
    where = f"SegmentationObject/{png_path.name}"
    try:
        indices = read_index_png(png_path)
    except DatasetError as exc:
        builder.error(where, exc.reason)
        return set()
    if indices.shape != shape:
        builder.error(
            where, f"mask is {indices.shape[1]}x{indices.shape[0]}, the image {shape[1]}x{shape[0]}"
        )
        return set()
    class_png = root / "SegmentationClass" / png_path.name
    class_indices: np.ndarray | None = None
    if class_png.is_file():
        try:
            class_indices = read_index_png(class_png)
        except DatasetError as exc:
            builder.warn(f"SegmentationClass/{png_path.name}", exc.reason)
        if class_indices is not None and class_indices.shape != shape:
            builder.warn(f"SegmentationClass/{png_path.name}", "size differs from the object mask: not used")
            class_indices = None
    done: set[int] = set()
    for index in (int(i) for i in np.unique(indices)):
        if index in (0, VOID):
            continue
        label = f"{where} object {index}"
        mask = indices == index
        name = _class_name(classes, xml_objects, index, class_indices, mask)
        if name is None:
            builder.error(label, "class unknown: no XML object of that number and no SegmentationClass mask")
            continue
        builder.add_annotation(image_id, classes.id(name), label, segmentation=encode_rle(mask))
        done.add(index)
    return done


def _class_name(
    classes: _Classes, xml_objects: list, index: int, class_indices: np.ndarray | None, mask: np.ndarray
) -> str | None:
    if index <= len(xml_objects) and xml_objects[index - 1].name:
        return xml_objects[index - 1].name
    if class_indices is None:
        return None
    values = class_indices[mask]
    values = values[(values != 0) & (values != VOID)]
    if values.size == 0:
        return None
    ci = int(np.bincount(values).argmax())
    return classes.names[ci] if ci < len(classes.names) else f"class_{ci}"
