"""Values of the annotation data model: categories, instances, image records, project settings.

:class:`Category` and :class:`Instance` are immutable (change = replace); :class:`ImageRecord` is mutable but only
through :class:`~annotator.core.model.Project` methods, which emit the events. Everything here is importable from
:mod:`annotator.core.model` too.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from annotator.core.errors import ModelError
from annotator.core.masks import Mask

RGB = tuple[int, int, int]
SegmentationMode = Literal["auto", "polygon", "rle"]
SEGMENTATION_MODES: tuple[str, ...] = ("auto", "polygon", "rle")
INSTANCE_SOURCES: tuple[str, ...] = ("manual", "sam", "classic", "auto", "persam", "import")

PALETTE: tuple[RGB, ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
)  # fmt: skip
"""Default category colours (RGB 0-255), used in order of category id."""


class ImageStatus(enum.StrEnum):
    """Annotation progress of one image. ``ERROR`` comes with ``ImageRecord.error`` (a message)."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    ERROR = "error"


def check_rgb(color: object) -> RGB:
    """``color`` as an ``(R, G, B)`` tuple of ints 0-255; raises ``ModelError`` for anything else."""
    if (
        not isinstance(color, tuple | list)
        or len(color) != 3
        or not all(isinstance(c, int) and 0 <= c <= 255 for c in color)
    ):
        raise ModelError(f"a colour must be three integers 0-255 (R, G, B), got {color!r}")
    return int(color[0]), int(color[1]), int(color[2])


@dataclass(frozen=True)
class Category:
    """A label class. ``id`` is stable from 1 and never renumbered; ``color`` is RGB 0-255."""

    id: int
    name: str
    color: RGB
    supercategory: str = ""


@dataclass(frozen=True)
class Instance:
    """One annotated object on one image (immutable; change = :meth:`replace`).

    Attributes:
        id: unique in the project, stable from 1 (it is not the COCO annotation id, which export renumbers).
        category_id: a :class:`Category` id of the project.
        mask: the ``H x W`` mask (image size as displayed), stored as RLE.
        iscrowd: 0, or 1 for a crowd region.
        source: who made it: ``manual``, ``sam``, ``classic``, ``auto``, ``persam`` or ``import``.
        score: model quality score (predicted IoU), if any.
        hidden: view flag (hidden instances are still saved and exported).
        polygons: COCO polygons (flat ``[x0, y0, x1, y1, ...]`` lists, pixel-edge coordinates) that rasterise
            with pycocotools to exactly ``mask``, when known (imported polygons, polygon edits without holes);
            export then writes them as they are. Replacing the mask without new polygons clears them.
        box: for a box-only object (imported without a segmentation): its COCO ``bbox`` ``(x, y, w, h)`` in
            pixels (floats); ``mask`` is then the pixels the box covers (shown as such) and export writes the
            box without a segmentation. Replacing the mask makes it a mask object (``box`` cleared).
        coco_extras: COCO annotation keys the app does not use (``attributes``, ``score``, ``track_id``,
            ``ignore``...), JSON values written back as they are on export (not part of the hash).
    """

    id: int
    category_id: int
    mask: Mask
    iscrowd: int = 0
    source: str = "manual"
    score: float | None = None
    hidden: bool = False
    polygons: tuple[tuple[float, ...], ...] | None = None
    box: tuple[float, float, float, float] | None = None
    coco_extras: dict[str, Any] | None = field(default=None, hash=False)

    def replace(self, **changes: Any) -> Instance:
        """A copy with ``changes``; a new ``mask`` without ``polygons`` (``box``) drops the stale ones."""
        if "mask" in changes:
            changes.setdefault("polygons", None)
            changes.setdefault("box", None)
        return dataclasses.replace(self, **changes)


@dataclass
class ImageRecord:
    """One image of the project. Mutate only through :class:`Project` methods (they emit events).

    Attributes:
        file_name: path relative to the project root, ``/``-separated; the image's key.
        width, height: size as displayed (EXIF orientation applied), in pixels.
        status: progress; ``error`` holds the message when ``status`` is ``ERROR``.
        metadata: facts about the file (e.g. ``{"exif_orientation": 6}``), JSON values.
        extras: per-image state of optional features (e.g. proposals / review queue), JSON values, saved as
        is.
    """

    file_name: str
    width: int
    height: int
    status: ImageStatus = ImageStatus.NOT_STARTED
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    _instances: list[Instance] = field(default_factory=list, repr=False)
    _version: int = field(default=0, repr=False, compare=False)
    """Bumped by every ``Project`` method that changes this record (the save cache's check, issue 15)."""

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The instances in drawing order (first = bottom)."""
        return tuple(self._instances)

    @property
    def instance_count(self) -> int:
        """How many instances the image holds (without copying them)."""
        return len(self._instances)

    def instance_at(self, index: int) -> Instance:
        """The instance at drawing position ``index`` (0 = bottom), in O(1)."""
        return self._instances[index]

    def instance(self, instance_id: int) -> Instance:
        for inst in self._instances:
            if inst.id == instance_id:
                return inst
        raise ModelError(f"no instance {instance_id} on image {self.file_name}")

    def index_of(self, instance_id: int) -> int:
        for i, inst in enumerate(self._instances):
            if inst.id == instance_id:
                return i
        raise ModelError(f"no instance {instance_id} on image {self.file_name}")


@dataclass(frozen=True)
class ProjectSettings:
    """Per-project choices. ``segmentation_mode``: COCO export mode ``auto`` | ``polygon`` | ``rle``."""

    segmentation_mode: SegmentationMode = "auto"

    def __post_init__(self) -> None:
        if self.segmentation_mode not in SEGMENTATION_MODES:
            raise ModelError(
                f"segmentation mode must be one of {SEGMENTATION_MODES}, got {self.segmentation_mode!r}"
            )
