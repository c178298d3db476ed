"""Pascal VOC export: object and class masks as palette PNGs, boxes as VOC XML.

Layout of ``out`` (one ``<stem>`` per image; subfolders become ``_`` in the name)::

    JPEGImages/<stem><suffix>                  the images, linked or copied as they are (not re-encoded)
    SegmentationObject/<stem>.png              "P" PNG: 0 background, k = the k-th mask object of the XML
    SegmentationClass/<stem>.png               "P" PNG: 0 background, c = the c-th line of labels.txt
    Annotations/<stem>.xml                     filename, size, one <object> per object (name, bndbox...)
    ImageSets/{Segmentation,Main}/trainval.txt all image stems; train.txt and val.txt with a split
    labels.txt                                 "background", then the categories in project order

Both PNGs carry the VOC colour map. Value 255 (VOC's "void" boundary band) is not written: it marks where the
original annotators were unsure, which a mask does not say. Where objects overlap, the later object (the one
drawn on top in the app) owns the pixels; partly or wholly covered objects are reported. The XML lists the mask
objects first, in PNG order, then box-only objects (which have no pixels in the PNGs: reported). ``bndbox`` is
VOC's 1-based inclusive pixel range; ``truncated`` and ``difficult`` are 0 (the app records neither). At most
254 mask objects per image fit the object PNG (the rest reported) and at most 254 categories the class PNG.
Crowd regions are not written (VOC has none): reported. Images stored rotated (an EXIF orientation tag) are
linked as they are and reported: the masks follow the displayed image, as Ultralytics and labelme read them.
"""

from __future__ import annotations

import io
import threading
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from annotator.core.formats.output import (
    ExportError,
    FormatReport,
    check_cancel,
    place_image,
    prepare_folder,
    write_bytes,
    write_text,
)
from annotator.core.formats.selection import (
    ExportSelection,
    Progress,
    SelectedImage,
    output_stems,
    split_train_val,
)
from annotator.core.formats.tracing import decode_crop
from annotator.core.model import Instance

MAX_VALUE = 254
"""The largest object or class value of a PNG (255 is VOC's void)."""


def voc_palette() -> list[int]:
    """VOC's 256-colour map as a flat ``[r0, g0, b0, r1, ...]`` list (bits of the index spread over RGB)."""
    palette: list[int] = []
    for index in range(256):
        rgb = [0, 0, 0]
        value = index
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        palette += rgb
    return palette


_PALETTE = voc_palette()


def palette_png(values: np.ndarray) -> bytes:
    """An ``H x W`` uint8 array as a "P" mode PNG with the VOC colour map."""
    image = Image.fromarray(np.ascontiguousarray(values, dtype=np.uint8))
    image.putpalette(_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # fast; these PNGs are small anyway
    return buffer.getvalue()


def _voc_box(instance: Instance, width: int, height: int) -> tuple[int, int, int, int]:
    """``xmin, ymin, xmax, ymax``: 1-based, inclusive, inside the image."""
    if instance.box is not None:
        x, y, w, h = instance.box
        x0, y0, x1, y1 = round(x), round(y), round(x + w), round(y + h)
    else:
        x0, y0, w0, h0 = instance.mask.bbox
        x1, y1 = x0 + w0, y0 + h0
    x0, y0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    return x0 + 1, y0 + 1, max(min(x1, width), x0 + 1), max(min(y1, height), y0 + 1)


def annotation_xml(image: SelectedImage, file_name: str, objects: list[tuple[str, Instance]]) -> bytes:
    """The VOC XML of one image (``objects``: category name and instance, in the order to write)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = file_name
    ET.SubElement(ET.SubElement(root, "source"), "database").text = "sam-annotator"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", image.width), ("height", image.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "1"
    for name, instance in objects:
        element = ET.SubElement(root, "object")
        ET.SubElement(element, "name").text = name
        ET.SubElement(element, "pose").text = "Unspecified"
        ET.SubElement(element, "truncated").text = "0"
        ET.SubElement(element, "difficult").text = "0"
        box = ET.SubElement(element, "bndbox")
        for tag, value in zip(
            ("xmin", "ymin", "xmax", "ymax"), _voc_box(instance, image.width, image.height), strict=True
        ):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _paint(
    image: SelectedImage, objects: list[Instance], classes: dict[int, int], report: FormatReport
) -> tuple:
    """The object and class value arrays of one image, later objects on top; overlaps reported."""
    object_values = np.zeros((image.height, image.width), np.uint8)
    class_values = np.zeros_like(object_values)
    for value, instance in enumerate(objects, start=1):
        x, y, w, h = instance.mask.bbox
        crop = decode_crop(instance.mask)
        object_values[y : y + h, x : x + w][crop] = value
        class_values[y : y + h, x : x + w][crop] = classes[instance.category_id]
    counts = np.bincount(object_values.ravel(), minlength=len(objects) + 1)
    for value, instance in enumerate(objects, start=1):
        kept, area = int(counts[value]), instance.mask.area
        if kept < area:
            label = f"{image.file_name}, object {instance.id}"
            how = "wholly" if kept == 0 else f"partly ({area - kept} of {area} pixels)"
            report.changed.append(f"{label}: {how} covered by later objects in the PNGs")
    return object_values, class_values


def export_voc(
    selection: ExportSelection,
    out: str | Path,
    *,
    val_fraction: float = 0.0,
    seed: int = 0,
    image_mode: str = "link",
    overwrite: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> FormatReport:
    """Write ``selection`` as a Pascal VOC folder ``out``. Raises :class:`ExportError`, or
    :class:`~annotator.core.formats.output.ExportCancelled` when ``cancel`` is set."""
    out = Path(out)
    if len(selection.categories) > MAX_VALUE:
        raise ExportError(out, f"VOC class PNGs hold at most {MAX_VALUE} categories")
    prepare_folder(out, overwrite=overwrite)
    report = FormatReport(format="voc", path=out)
    report.images_skipped, report.empty_skipped = selection.images_skipped, selection.empty_skipped
    report.warnings += selection.warnings
    names = [image.file_name for image in selection.images]
    stems, renamed = output_stems(names, flat=True)
    report.warnings += renamed
    classes = {c.id: c.index + 1 for c in selection.categories}
    category_names = {c.id: c.name for c in selection.categories}
    for done, image in enumerate(selection.images):
        check_cancel(cancel)
        masks: list[Instance] = []
        boxes: list[Instance] = []
        for instance in image.instances:
            label = f"{image.file_name}, object {instance.id}"
            if instance.iscrowd:
                report.not_written.append(f"{label}: a crowd region (VOC has none)")
            elif instance.box is not None:
                report.not_written.append(f"{label}: box only, in the XML but not in the PNGs")
                boxes.append(instance)
            elif len(masks) >= MAX_VALUE:
                report.not_written.append(f"{label}: more than {MAX_VALUE} objects in the image")
            else:
                masks.append(instance)
        object_values, class_values = _paint(image, masks, classes, report)
        stem = stems[image.file_name]
        file_name = stem + PurePosixPath(image.file_name).suffix
        write_bytes(out / "SegmentationObject" / f"{stem}.png", palette_png(object_values))
        write_bytes(out / "SegmentationClass" / f"{stem}.png", palette_png(class_values))
        objects = [(category_names[i.category_id], i) for i in masks + boxes]
        write_bytes(out / "Annotations" / f"{stem}.xml", annotation_xml(image, file_name, objects))
        if image.exif_orientation not in (0, 1):
            report.warnings.append(
                f"{image.file_name}: the file is stored rotated (EXIF orientation {image.exif_orientation}); "
                "the PNGs and boxes follow the displayed image, readers that ignore EXIF see it turned"
            )
        try:
            report.copied_images += place_image(image.path, out / "JPEGImages" / file_name, image_mode)
        except ExportError as exc:
            report.warnings.append(f"{image.file_name}: annotations written, image not: {exc.reason}")
        report.images += 1
        report.objects += len(objects)
        if progress is not None:
            progress(done + 1, len(selection.images))
    all_stems = [stems[name] for name in names]
    val = split_train_val(names, val_fraction, seed) if val_fraction > 0 else set()
    lists = {"trainval": all_stems}
    if val_fraction > 0:
        lists["train"] = [stems[n] for n in names if n not in val]
        lists["val"] = [stems[n] for n in names if n in val]
    for folder in ("Segmentation", "Main"):
        for list_name, items in lists.items():
            write_text(out / "ImageSets" / folder / f"{list_name}.txt", "".join(s + "\n" for s in items))
    write_text(out / "labels.txt", "".join(n + "\n" for n in ["background", *category_names.values()]))
    return report
