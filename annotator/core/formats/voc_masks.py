"""Pascal VOC's small files: index PNGs (palette, grey or RGB in the VOC colours), annotation XML, label map.

* PNG masks: a palette (``P``) or grey (``L``) PNG gives its pixel values as indices; an RGB PNG is mapped
  back through the VOC colour map (VOC devkit ``labelcolormap``: the bits of the index spread over R, G, B),
  a colour not in it is refused. 0 is background, 255 the "void" border (neither is an object).
* XML (``Annotations/NAME.xml``): ``filename``, ``size``, and ``object``\\ s with ``name`` and ``bndbox``
  (``xmin..xmax``, ``ymin..ymax``: 1-based, inclusive pixel indices, as the devkit and detectron2 read them).
  A document type declaration (entities) is refused.
* ``labelmap.txt`` (CVAT and Datumaro): ``name:r,g,b:parts:actions`` per line, the class index is the line;
  ``labels.txt`` (this app's export, mmsegmentation): one name per line, likewise.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from annotator.core import limits
from annotator.core.errors import LimitError
from annotator.core.formats.dataset import DatasetError, read_bounded, read_text

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
"""The 20 VOC classes after the background, at their index in ``SegmentationClass`` PNGs."""
MAX_XML_BYTES = 16 << 20
VOID = 255


def voc_colormap(count: int = 256) -> np.ndarray:
    """``count x 3`` uint8: the VOC devkit colour of each index."""
    colors = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        colors[index] = (r, g, b)
    return colors


def read_index_png(path: Path) -> np.ndarray:
    """The ``H x W`` index array of a VOC mask PNG; :class:`DatasetError` naming the file otherwise."""
    try:
        with Image.open(path) as image:
            limits.check_pixels(*image.size)
            if image.mode in ("P", "L"):
                return np.array(image, dtype=np.uint8)
            if image.mode in ("I", "I;16", "I;16B", "I;16L"):
                values = np.array(image.convert("I"), dtype=np.int64)
                if values.min() < 0 or values.max() > VOID:
                    raise DatasetError(path, "index values outside 0..255")
                return values.astype(np.uint8)
            if image.mode in ("RGB", "RGBA"):
                return _from_colors(path, np.array(image.convert("RGB"), dtype=np.uint8))
            raise DatasetError(path, f"unsupported PNG mode {image.mode} (palette, grey or RGB expected)")
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except UnidentifiedImageError:
        raise DatasetError(path, "not a PNG image") from None
    except Image.DecompressionBombError as exc:
        raise DatasetError(path, f"image too large: {exc}") from None
    except LimitError as exc:
        raise DatasetError(path, str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(path, f"cannot read the PNG: {exc}") from None


def _from_colors(path: Path, rgb: np.ndarray) -> np.ndarray:
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette = voc_colormap()
    palette_codes = (
        (palette[:, 0].astype(np.int32) << 16) | (palette[:, 1].astype(np.int32) << 8) | palette[:, 2]
    )
    order = np.argsort(palette_codes)
    found = np.searchsorted(palette_codes[order], codes)
    found = np.clip(found, 0, len(order) - 1)
    indices = order[found]
    bad = palette_codes[indices] != codes
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise DatasetError(
            path, f"colour {tuple(int(c) for c in rgb[y, x])} at ({x}, {y}) is not a VOC colour"
        )
    return indices.astype(np.uint8)


@dataclass(frozen=True)
class VocObject:
    """One ``object`` of an annotation XML: its class ``name`` and COCO ``bbox`` ``[x, y, w, h]`` (or
    ``None`` when it has no usable ``bndbox``)."""

    name: str
    bbox: list[float] | None


@dataclass(frozen=True)
class VocXml:
    filename: str | None
    size: tuple[int, int] | None
    objects: list[VocObject]


def _number(element: ET.Element | None, tag: str) -> float | None:
    text = element.findtext(tag) if element is not None else None
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def read_xml(path: Path) -> VocXml:
    """The annotation XML ``path``; :class:`DatasetError` when it is not one."""
    raw = read_bounded(path, MAX_XML_BYTES, "annotation XML")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise DatasetError(path, "XML with a document type declaration (entities) is refused")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise DatasetError(path, f"not valid XML ({exc})") from None
    if root.tag != "annotation":
        raise DatasetError(path, f"not a VOC annotation (root element <{root.tag}>)")
    size = root.find("size")
    width, height = _number(size, "width"), _number(size, "height")
    dims = (int(width), int(height)) if width and height and width > 0 and height > 0 else None
    objects = []
    for item in root.findall("object"):
        name = (item.findtext("name") or "").strip()
        box = item.find("bndbox")
        x0, y0, x1, y1 = (_number(box, t) for t in ("xmin", "ymin", "xmax", "ymax"))
        bbox = None
        if None not in (x0, y0, x1, y1) and x1 >= x0 and y1 >= y0:  # type: ignore[operator]
            bbox = [x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1]  # type: ignore[operator]
        objects.append(VocObject(name, bbox))
    filename = (root.findtext("filename") or "").strip() or None
    return VocXml(filename, dims, objects)


def read_labelmap(path: Path) -> list[str]:
    """The class names of a ``labelmap.txt`` (``name:colour:parts:actions``) or a ``labels.txt`` (one name per
    line), index = line (comments and blank lines skipped)."""
    names = []
    colon = path.name == "labelmap.txt"
    for line in read_text(path, 1 << 20, "label map").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names.append((line.split(":", 1)[0] if colon else line).strip())
    if not names:
        raise DatasetError(path, "the label map names no class")
    return names
