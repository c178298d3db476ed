"""What every importer builds: a COCO dataset in memory, the reader's messages, and each annotation's source.

A reader (YOLO, VOC, labelme) turns its files into a :class:`DatasetBuilder`: categories with ids, images
already matched to project keys (:class:`~annotator.core.formats.image_match.ImageMatcher`) with their
sizes as displayed, annotations as COCO polygons, RLE dicts or box-only ``bbox`` values (``segmentation``
``[]``). The COCO importer (:func:`~annotator.core.coco_import.import_coco_data`) then does the rest, so
idempotency, undo, category matching and reporting are the same for every format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.coco_import import ImportMessage
from annotator.core.errors import FileError


class DatasetError(FileError):
    """A dataset cannot be imported as a whole (unknown format, not the format asked for, unreadable
    class list...); the message names the file and the reason."""


@dataclass
class DatasetBuilder:
    """A COCO dataset being assembled by a reader; ``sources`` maps annotation ids to where they came from
    (``labels/a.txt line 3``) so the report names the file, not an id the user never saw."""

    path: Path
    format: str
    categories: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[ImportMessage] = field(default_factory=list)
    sources: dict[int, str] = field(default_factory=dict)
    _image_ids: dict[str, int] = field(default_factory=dict)

    def add_category(self, category_id: int, name: str) -> None:
        self.categories.append({"id": category_id, "name": name})

    def image_id(self, key: str, width: int, height: int) -> int:
        """The dataset id of the project image ``key`` (added on first use)."""
        if key not in self._image_ids:
            self._image_ids[key] = len(self.images) + 1
            self.images.append(
                {"id": self._image_ids[key], "file_name": key, "width": width, "height": height}
            )
        return self._image_ids[key]

    def add_annotation(
        self,
        image_id: int,
        category_id: int,
        source: str,
        *,
        segmentation: list[list[float]] | dict[str, Any] | None = None,
        bbox: list[float] | None = None,
    ) -> None:
        """A polygon list or RLE ``segmentation``, or (``segmentation`` ``None``) a box-only ``bbox``
        ``[x, y, w, h]`` in pixels."""
        ann_id = len(self.annotations) + 1
        ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": 0}
        ann["segmentation"] = segmentation if segmentation is not None else []
        if bbox is not None:
            ann["bbox"] = bbox
        self.annotations.append(ann)
        self.sources[ann_id] = source

    def error(self, item: str, message: str) -> None:
        """An item skipped (counted in the report's errors)."""
        self.messages.append(ImportMessage("error", item, message))

    def warn(self, item: str, message: str) -> None:
        self.messages.append(ImportMessage("warning", item, message))

    def coco(self) -> dict[str, Any]:
        return {"images": self.images, "annotations": self.annotations, "categories": self.categories}

    def relabel(self, messages: list[ImportMessage]) -> list[ImportMessage]:
        """The importer's messages with ``annotation N`` replaced by the annotation's source."""
        out = []
        for message in messages:
            prefix, _, number = message.item.partition(" ")
            if prefix == "annotation" and number.isdigit() and int(number) in self.sources:
                message = ImportMessage(message.level, self.sources[int(number)], message.message)
            out.append(message)
        return out


def read_bounded(path: Path, max_bytes: int, what: str) -> bytes:
    """The bytes of ``path`` (at most ``max_bytes``); ``DatasetError`` naming the file otherwise."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DatasetError(path, f"{what} is {size} bytes (limit {max_bytes})")
        with open(path, "rb") as handle:
            return handle.read(max_bytes + 1)[:max_bytes]
    except FileNotFoundError:
        raise DatasetError(path, f"{what} not found") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read the {what}: {exc.strerror or exc}") from None


def read_text(path: Path, max_bytes: int, what: str) -> str:
    """:func:`read_bounded` decoded as UTF-8 (a byte-order mark dropped)."""
    try:
        return read_bounded(path, max_bytes, what).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
