"""The project file format (JSON): ``Project`` <-> plain dicts. See ``docs/adr/0003-project-file.md``."""

from __future__ import annotations

from typing import Any

from annotator.core.errors import MaskError, ModelError
from annotator.core.masks import Mask
from annotator.core.model import Category, ImageRecord, ImageStatus, Instance, Project, ProjectSettings

FORMAT_NAME = "sam-annotator-project"
FORMAT_VERSION = 1
"""The version this code writes and the newest it reads."""


def project_head(project: Project, root: str = ".") -> dict[str, Any]:
    """The project file's keys before ``images``: format, counters, settings and categories (``root``: the image
    folder relative to the project file's folder)."""
    next_category, next_instance = project.counters()
    return {
        "version": FORMAT_VERSION,  # first key: read from the file header before parsing everything
        "format": FORMAT_NAME,
        "root": root,
        "next_category_id": next_category,
        "next_instance_id": next_instance,
        "settings": {"segmentation_mode": project.settings.segmentation_mode},
        "categories": [
            {"id": c.id, "name": c.name, "color": list(c.color), "supercategory": c.supercategory}
            for c in project.categories
        ],
    }


def project_to_dict(project: Project, root: str = ".") -> dict[str, Any]:
    """The JSON-ready dict of ``project``; ``root`` is the image folder relative to the project file's
    folder."""
    return {
        **project_head(project, root),
        "images": [_image_to_dict(r) for r in project.images],
        "extras": project.extras,
    }


def image_head(record: ImageRecord) -> dict[str, Any]:
    """An image record's keys before ``instances``."""
    return {
        "file_name": record.file_name,
        "width": record.width,
        "height": record.height,
        "status": record.status.value,
        "error": record.error,
        "metadata": record.metadata,
        "extras": record.extras,
    }


def _image_to_dict(record: ImageRecord) -> dict[str, Any]:
    return {**image_head(record), "instances": [_instance_to_dict(i) for i in record.instances]}


def _instance_to_dict(inst: Instance) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": inst.id,
        "category_id": inst.category_id,
        "iscrowd": inst.iscrowd,
        "source": inst.source,
        "score": inst.score,
        "hidden": inst.hidden,
        "mask": inst.mask.to_json(),
    }
    if inst.polygons is not None:
        out["polygons"] = [list(p) for p in inst.polygons]
    if inst.box is not None:
        out["box"] = list(inst.box)
    if inst.coco_extras:
        out["coco_extras"] = inst.coco_extras
    return out


def project_from_dict(data: Any, root: Any) -> Project:
    """Rebuild a project; raises ``ValueError`` (``ModelError``/``MaskError``/``KeyError`` wrapped by callers)
    with the reason when the content is inconsistent."""
    if not isinstance(data, dict):
        raise ValueError("the file does not contain a JSON object")
    project = Project(root)
    try:
        project.settings = ProjectSettings(**data.get("settings", {}))
        for c in data["categories"]:
            category = Category(
                int(c["id"]), str(c["name"]), tuple(c["color"]), str(c.get("supercategory", ""))
            )
            project.insert_category(category)
        for item in data["images"]:
            instances = [_instance_from_dict(i) for i in item.get("instances", [])]
            project.add_image(
                str(item["file_name"]),
                int(item["width"]),
                int(item["height"]),
                status=ImageStatus(item.get("status", "not_started")),
                error=item.get("error"),
                metadata=dict(item.get("metadata") or {}),
                extras=dict(item.get("extras") or {}),
                _instances=instances,
            )
            record = project.image(str(item["file_name"]).replace("\\", "/"))
            for inst in instances:
                project._validate_instance(record, inst)
        project.extras = dict(data.get("extras") or {})
        project.restore_counters(int(data.get("next_category_id", 1)), int(data.get("next_instance_id", 1)))
    except (KeyError, TypeError, AttributeError, OverflowError, ModelError, MaskError) as exc:
        raise ValueError(f"inconsistent content: {type(exc).__name__}: {exc}") from exc
    seen: set[int] = set()
    for inst in project.iter_instances():
        if inst.id in seen:
            raise ValueError(f"inconsistent content: instance id {inst.id} appears twice")
        seen.add(inst.id)
    return project


def _instance_from_dict(item: dict[str, Any]) -> Instance:
    polygons = item.get("polygons")
    box = item.get("box")
    return Instance(
        id=int(item["id"]),
        category_id=int(item["category_id"]),
        mask=Mask.from_json(item["mask"]),
        iscrowd=int(item.get("iscrowd", 0)),
        source=str(item.get("source", "manual")),
        score=None if item.get("score") is None else float(item["score"]),
        hidden=bool(item.get("hidden", False)),
        polygons=None if polygons is None else tuple(tuple(float(v) for v in p) for p in polygons),
        box=None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        coco_extras=dict(item["coco_extras"]) if item.get("coco_extras") else None,
    )
