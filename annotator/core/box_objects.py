"""Box-only objects as prompts, and the masks a model made of them as proposals (Qt-free, no model).

Boxes to masks (issue 14, item 3) has three parts: the box prompts (this module: the box-only objects of a
project, :func:`project_box_prompts`, or of a COCO file, :func:`read_coco_boxes`), the model
(``sam_model.box_prompts.masks_for_boxes``, one image at a time) and the results (this module:
:class:`BoxProposal`, which becomes a COCO proposal annotation with :meth:`BoxProposal.to_coco` or a review
queue draft with :meth:`BoxProposal.to_draft`).

A box-only object is an :class:`~annotator.core.records.Instance` with a ``box`` (imported without a
segmentation); in a COCO file, an annotation with a valid ``bbox`` and no segmentation (missing, ``null`` or
``[]``, as :mod:`annotator.core.coco_import` reads it). COCO boxes are ``[x, y, w, h]``; prompts are corners
``(x0, y0, x1, y1) = (x, y, x + w, y + h)`` in image pixels.

The review draft of a box proposal carries its object's id in ``provenance[BOX_INSTANCE]``: accepting it
turns that object into a mask object (same id and category, one undoable step; see
:meth:`annotator.core.review.ReviewQueue.accept`), rejecting it keeps the box.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.coco_import import load_coco
from annotator.core.coco_values import Notes, as_box, as_int
from annotator.core.errors import CocoError
from annotator.core.masks import Mask, encode_rle, rle_area, rle_bbox
from annotator.core.model import Project
from annotator.core.review_proposal import BOX_INSTANCE, ProposalDraft

SOURCE_BOX_SAM = "box-sam"
SOURCE_BOX_CLASSIC = "box-classic"
SOURCE_ID_KEY = "source_box_id"
"""Key of a COCO proposal annotation: the box's id (project instance id, or the input file's annotation id)."""


@dataclass(frozen=True)
class BoxPrompt:
    """One box to segment.

    Attributes:
        file_name: the image, relative to the folder (``/``-separated).
        source_id: the box's id: a project instance id, or the annotation id in a COCO file.
        category_id: the box's category (project or file ids, as the source has them).
        box_xyxy: ``(x0, y0, x1, y1)`` in image pixels.
    """

    file_name: str
    source_id: int
    category_id: int
    box_xyxy: tuple[float, float, float, float]

    @property
    def coco_box(self) -> list[float]:
        """``[x, y, w, h]``."""
        x0, y0, x1, y1 = self.box_xyxy
        return [x0, y0, x1 - x0, y1 - y0]


@dataclass(frozen=True)
class BoxImage:
    """An image with boxes to segment: its COCO id (``None`` for a project image), name and size."""

    file_name: str
    width: int
    height: int
    prompts: tuple[BoxPrompt, ...]
    image_id: int | None = None

    def boxes_xyxy(self) -> np.ndarray:
        """``N x 4`` float64 corners of :attr:`prompts`, in order."""
        return np.array([p.box_xyxy for p in self.prompts], dtype=np.float64).reshape(-1, 4)


@dataclass
class BoxSet:
    """The boxes of a project or a COCO file: images with boxes (in order), the categories as COCO dicts,
    and one-line notes on what was skipped."""

    images: list[BoxImage]
    categories: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    source: str = "project"

    @property
    def box_count(self) -> int:
        return sum(len(image.prompts) for image in self.images)


def xyxy(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """COCO ``(x, y, w, h)`` -> corners ``(x0, y0, x1, y1)``."""
    x, y, w, h = box
    return float(x), float(y), float(x + w), float(y + h)


def project_box_prompts(project: Project, keys: Iterable[str] | None = None) -> BoxSet:
    """The box-only objects of ``project`` (of the images ``keys``, default all), images in project order."""
    wanted = None if keys is None else set(keys)
    images: list[BoxImage] = []
    for record in project.images:
        if wanted is not None and record.file_name not in wanted:
            continue
        prompts = tuple(
            BoxPrompt(record.file_name, inst.id, inst.category_id, xyxy(inst.box))
            for inst in record.instances
            if inst.box is not None
        )
        if prompts:
            images.append(BoxImage(record.file_name, record.width, record.height, prompts))
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in project.categories]
    return BoxSet(images, categories)


def read_coco_boxes(path: str | Path) -> BoxSet:
    """The box-only annotations of the COCO file ``path``, with the file's image and category ids.

    Annotations with a segmentation are not boxes to segment (counted in a note); a box-only annotation
    whose image, id or ``bbox`` is unusable is skipped with a note. Raises :class:`CocoError` naming the
    file when it is not a readable COCO dataset.
    """
    path = Path(path)
    data = load_coco(path)
    notes: list[str] = []
    scratch: Notes = []
    sizes: dict[int, tuple[str, int, int]] = {}
    for item in data["images"]:
        if not isinstance(item, dict):
            continue
        image_id = as_int(item.get("id"), "image id", scratch)
        width, height = as_int(item.get("width"), "", scratch), as_int(item.get("height"), "", scratch)
        name = item.get("file_name")
        if image_id is None or width is None or height is None or not isinstance(name, str):
            notes.append(f"image {item.get('id')!r}: needs integer id, width, height and a file_name")
            continue
        sizes[image_id] = (posixpath.normpath(name.replace("\\", "/")), width, height)
    per_image: dict[int, list[BoxPrompt]] = {}
    masked = 0
    for ann in data.get("annotations") or []:
        if not isinstance(ann, dict):
            continue
        segmentation = ann.get("segmentation")
        if not (segmentation is None or segmentation == []):
            masked += 1
            continue
        ann_id = as_int(ann.get("id"), "", scratch)
        image_id = as_int(ann.get("image_id"), "", scratch)
        category_id = as_int(ann.get("category_id"), "", scratch)
        box = as_box(ann.get("bbox"))
        label = f"annotation {ann.get('id')!r}"
        if ann_id is None or category_id is None:
            notes.append(f"{label}: skipped (needs an integer id and category_id)")
        elif image_id is None or image_id not in sizes:
            notes.append(f"{label}: skipped (image id {ann.get('image_id')!r} unknown)")
        elif box is None:
            notes.append(f"{label}: skipped (no segmentation and no usable bbox [x, y, w, h], w, h > 0)")
        else:
            per_image.setdefault(image_id, []).append(
                BoxPrompt(sizes[image_id][0], ann_id, category_id, xyxy(box))
            )
    if masked:
        notes.append(f"{masked} annotation(s) with a segmentation left out (already masks)")
    images = [
        BoxImage(sizes[i][0], sizes[i][1], sizes[i][2], tuple(prompts), image_id=i)
        for i, prompts in sorted(per_image.items())
    ]
    categories = [
        {"id": c["id"], "name": c.get("name", str(c["id"])), "supercategory": c.get("supercategory", "")}
        for c in data.get("categories") or []
        if isinstance(c, dict) and as_int(c.get("id"), "", scratch) is not None
    ]
    return BoxSet(images, categories, notes, source=str(path))


@dataclass(frozen=True)
class BoxProposal:
    """The mask a model made of one box.

    Attributes:
        prompt: the box it was made from. rle: COCO compressed RLE ``{"size": [H, W], "counts": str}``.
        score: the model's quality estimate (SAM: predicted IoU). source: ``box-sam`` or ``box-classic``.
        engine: the engine's ``model_id``.
    """

    prompt: BoxPrompt
    rle: dict[str, Any]
    score: float
    source: str
    engine: str

    @property
    def area(self) -> int:
        return int(rle_area(self.rle))

    def to_coco(self, image_id: int, annotation_id: int) -> dict[str, Any]:
        """A COCO proposal annotation (the format ``main.py auto`` writes) plus the source box's id and box."""
        return {
            "id": annotation_id,
            "image_id": image_id,
            "category_id": self.prompt.category_id,
            "segmentation": {"size": [int(v) for v in self.rle["size"]], "counts": self.rle["counts"]},
            "area": self.area,
            "bbox": [int(v) for v in rle_bbox(self.rle)],
            "iscrowd": 0,
            "score": round(self.score, 6),
            SOURCE_ID_KEY: self.prompt.source_id,
            "source_box": [round(v, 3) for v in self.prompt.coco_box],
        }

    def to_draft(self) -> ProposalDraft:
        """The review-queue draft: the box's category suggested, its object named in the provenance."""
        provenance = {
            BOX_INSTANCE: self.prompt.source_id,
            "box": [round(v, 3) for v in self.prompt.coco_box],
            "engine": self.engine,
        }
        return ProposalDraft(Mask(self.rle), self.score, self.source, self.prompt.category_id, provenance)


def box_proposals(
    image: BoxImage, results: Iterable[tuple[int, np.ndarray, float]], *, source: str, engine: str
) -> tuple[list[BoxProposal], list[str]]:
    """Proposals from the model's answers ``(prompt index, H x W bool mask, score)`` for ``image``.

    An empty mask is not a proposal: it is reported (one line naming the image and the box) instead.
    """
    proposals: list[BoxProposal] = []
    empty: list[str] = []
    for index, mask, score in results:
        prompt = image.prompts[index]
        if mask.shape != (image.height, image.width):
            raise CocoError(
                image.file_name,
                f"mask is {mask.shape[0]}x{mask.shape[1]}, image {image.height}x{image.width}",
            )
        if not mask.any():
            empty.append(f"{image.file_name}: box {prompt.source_id}: the model found no object")
            continue
        proposals.append(BoxProposal(prompt, encode_rle(mask), float(score), source, engine))
    return proposals, empty


def proposals_dataset(
    boxes: BoxSet, per_image: Mapping[str, list[BoxProposal]], *, engine: str
) -> dict[str, Any]:
    """The COCO proposal file: the images that were segmented (the input file's ids, else 1, 2...), the
    categories, one annotation per proposal (ids from 1)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for number, image in enumerate(boxes.images, start=1):
        if image.file_name not in per_image:
            continue
        image_id = image.image_id if image.image_id is not None else number
        images.append(
            {"id": image_id, "file_name": image.file_name, "width": image.width, "height": image.height}
        )
        for proposal in per_image[image.file_name]:
            annotations.append(proposal.to_coco(image_id, len(annotations) + 1))
    return {
        "info": {"description": "boxes to masks proposals", "engine": engine, "boxes": boxes.source},
        "images": images,
        "categories": boxes.categories,
        "annotations": annotations,
    }
