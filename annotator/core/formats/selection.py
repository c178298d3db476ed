"""What every export writes: the image filter and the category order shared by COCO and the other formats.

:func:`select_for_export` takes an immutable snapshot of a project (read on the caller's thread, cheap: no mask
is decoded), so the slow part of an export (polygons, PNGs, files) can run in a background thread while the
user goes on editing:

* images: ``annotated`` (at least one non-empty object, or marked done), ``done`` or ``all``; images that
  cannot be read (status ``error``) never, reported, like :func:`annotator.core.coco.build_coco`;
* objects: empty masks never, reported;
* categories: the project's order; ``SelectedCategory.index`` is ``0..N-1`` in that order (YOLO class ids;
  COCO's contiguous ids are ``index + 1``, VOC's class values too, 0 being the background).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from annotator.core.errors import ModelError
from annotator.core.model import ImageStatus, Instance, Project

IMAGE_CHOICES: tuple[str, ...] = ("annotated", "done", "all")
"""Which images an export writes (see the module docstring)."""

Progress = Callable[[int, int], None]
"""``progress(done, total)``: images written so far, of how many (called from the exporting thread)."""


@dataclass(frozen=True)
class SelectedCategory:
    """One category as every format numbers it: the project's ``id``, and ``index`` = its place, from 0."""

    id: int
    index: int
    name: str
    supercategory: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class SelectedImage:
    """One image to write: its key, size as displayed (pixels), file, and its non-empty objects in order."""

    file_name: str
    width: int
    height: int
    path: Path
    instances: tuple[Instance, ...]
    coco_extras: dict[str, Any] = field(default_factory=dict)
    exif_orientation: int = 1
    """The file's EXIF orientation tag (1: none); sizes and masks are as displayed, with it applied."""


@dataclass(frozen=True)
class ExportSelection:
    """A snapshot of what an export writes; ``warnings`` say what the filter left out and why."""

    root: Path
    images: tuple[SelectedImage, ...]
    categories: tuple[SelectedCategory, ...]
    images_skipped: int
    empty_skipped: int
    warnings: tuple[str, ...]
    project_coco_extras: dict[str, Any] = field(default_factory=dict)

    @property
    def category_by_id(self) -> dict[int, SelectedCategory]:
        return {c.id: c for c in self.categories}

    @property
    def objects(self) -> int:
        return sum(len(image.instances) for image in self.images)


def _selected(status: ImageStatus, images: str, annotated: bool) -> bool:
    if images == "all":
        return True
    done = status is ImageStatus.DONE
    return done if images == "done" else done or annotated


def _orientation(metadata: dict[str, Any]) -> int:
    value = metadata.get("exif_orientation", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def select_for_export(project: Project, images: str = "annotated") -> ExportSelection:
    """The images and objects an export of ``project`` writes (``images``: one of :data:`IMAGE_CHOICES`).

    Raises :class:`ModelError` for an unknown ``images`` choice.
    """
    if images not in IMAGE_CHOICES:
        raise ModelError(f"images must be one of {IMAGE_CHOICES}, got {images!r}")
    warnings: list[str] = []
    selected: list[SelectedImage] = []
    skipped = empty = 0
    for record in project.images:
        if record.status is ImageStatus.ERROR:
            skipped += 1
            warnings.append(f"{record.file_name}: not written, the image cannot be read ({record.error})")
            continue
        kept: list[Instance] = []
        for instance in record.instances:
            if instance.mask.area == 0:
                empty += 1
                warnings.append(f"{record.file_name}, object {instance.id}: empty mask, not written")
                continue
            kept.append(instance)
        if not _selected(record.status, images, bool(kept)):
            skipped += 1
            continue
        selected.append(
            SelectedImage(
                file_name=record.file_name,
                width=record.width,
                height=record.height,
                path=project.root / record.file_name,
                instances=tuple(kept),
                coco_extras=dict(record.extras.get("coco", {})),
                exif_orientation=_orientation(record.metadata),
            )
        )
    categories = tuple(
        SelectedCategory(c.id, index, c.name, c.supercategory, tuple(c.color))  # type: ignore[arg-type]
        for index, c in enumerate(project.categories)
    )
    return ExportSelection(
        root=project.root,
        images=tuple(selected),
        categories=categories,
        images_skipped=skipped,
        empty_skipped=empty,
        warnings=tuple(warnings),
        project_coco_extras=dict(project.extras.get("coco", {})),
    )


def split_train_val(names: list[str], val_fraction: float, seed: int) -> set[str]:
    """The names of the validation part: ``round(len * val_fraction)`` of ``names``, drawn with ``seed``.

    The draw depends only on the sorted names and the seed (the same project gives the same split). Raises
    :class:`ModelError` unless ``0 <= val_fraction < 1``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ModelError(f"the validation fraction must be in [0, 1), got {val_fraction}")
    ordered = sorted(names)
    count = round(len(ordered) * val_fraction)
    if val_fraction > 0 and ordered:
        count = min(max(count, 1), len(ordered) - 1) if len(ordered) > 1 else 0
    return set(random.Random(seed).sample(ordered, count))


def output_stems(file_names: list[str], *, flat: bool) -> tuple[dict[str, str], list[str]]:
    """A unique output name without suffix for each image (``a/b.jpg`` -> ``a/b``, or ``a_b`` when ``flat``).

    Two images with the same stem (``x.jpg`` and ``x.png``, or ``a/x`` and ``a_x`` when flat) would share a
    label file: the later ones get ``_2``, ``_3``... (compared case-insensitively, for Windows and macOS);
    returns the map and one line per renamed image.
    """
    taken: set[str] = set()
    out: dict[str, str] = {}
    notes: list[str] = []
    for name in file_names:
        stem = str(PurePosixPath(name).with_suffix(""))
        if flat:
            stem = stem.replace("/", "_")
        candidate, number = stem, 1
        while candidate.lower() in taken:
            number += 1
            candidate = f"{stem}_{number}"
        if candidate != stem:
            notes.append(f"{name}: written as {candidate} (another image has the same name without suffix)")
        taken.add(candidate.lower())
        out[name] = candidate
    return out, notes
