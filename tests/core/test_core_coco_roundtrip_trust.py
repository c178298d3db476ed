"""Issue 12, finding 6: a round trip keeps what the app does not use, and box-only annotations come through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from annotator.core.coco import build_coco
from annotator.core.coco_import import import_coco
from annotator.core.model import Project
from annotator.core.project_format import project_from_dict, project_to_dict
from tests.core.helpers import write_image

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 25.0, 10.0, 25.0]


def _source(tmp_path: Path) -> dict:
    return {
        "info": {"description": "my dataset", "version": "3", "year": 2024},
        "licenses": [{"id": 2, "name": "CC-BY", "url": "https://example.org"}],
        "images": [
            {"id": 1, "file_name": "img0.png", "width": 80, "height": 60, "license": 2,
             "date_captured": "2024-01-02 03:04:05", "coco_url": "http://x/img0.png"},
        ],
        "categories": [{"id": 1, "name": "car", "supercategory": "vehicle", "keypoints": []}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [SQUARE], "iscrowd": 0,
             "attributes": {"occluded": True, "color": "red"}, "score": 0.75, "track_id": 4, "ignore": 1},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [40.5, 20.0, 12.0, 8.5], "area": 102.0,
             "iscrowd": 0, "attributes": {"source": "cvat"}},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [], "bbox": [5, 40, 10, 10]},
        ],
    }  # fmt: skip


def _project(tmp_path: Path) -> Project:
    write_image(tmp_path / "img0.png")
    project = Project(tmp_path)
    project.add_image("img0.png", 80, 60)
    return project


def test_unknown_keys_survive_import_save_load_export(tmp_path: Path) -> None:
    project = _project(tmp_path)
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_source(tmp_path)))
    report = import_coco(project, path)
    assert not report.errors, report.messages
    reloaded = project_from_dict(json.loads(json.dumps(project_to_dict(project))), tmp_path)
    coco, _ = build_coco(reloaded)
    assert coco["info"]["description"] == "my dataset" and coco["info"]["year"] == 2024
    assert coco["licenses"] == [{"id": 2, "name": "CC-BY", "url": "https://example.org"}]
    image = coco["images"][0]
    assert image["license"] == 2 and image["date_captured"] == "2024-01-02 03:04:05"
    assert image["coco_url"] == "http://x/img0.png"
    first = coco["annotations"][0]
    assert first["attributes"] == {"occluded": True, "color": "red"}
    assert first["score"] == 0.75 and first["track_id"] == 4 and first["ignore"] == 1
    assert coco["annotations"][1]["attributes"] == {"source": "cvat"}


def test_box_only_annotations_import_as_boxes_and_export_as_boxes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_source(tmp_path)))
    report = import_coco(project, path)
    assert report.annotations_imported == 3 and not report.errors
    boxes = [i for i in project.image("img0.png").instances if i.box is not None]
    assert [b.box for b in boxes] == [(40.5, 20.0, 12.0, 8.5), (5.0, 40.0, 10.0, 10.0)]
    shown = boxes[1].mask.array()
    assert shown[40:50, 5:15].all() and shown.sum() == 100  # drawn as the box's pixels
    reloaded = project_from_dict(json.loads(json.dumps(project_to_dict(project))), tmp_path)
    coco, report = build_coco(reloaded)
    written = coco["annotations"][1:]
    assert [a["bbox"] for a in written] == [[40.5, 20.0, 12.0, 8.5], [5.0, 40.0, 10.0, 10.0]]
    assert all("segmentation" not in a for a in written)
    assert [a["area"] for a in written] == [102.0, 100.0]
    again = import_coco(reloaded, path)
    assert again.annotations_imported == 0 and again.annotations_duplicate == 3


def test_polygon_vertices_outside_the_image_are_not_kept(tmp_path: Path) -> None:
    project = _project(tmp_path)
    data = {
        "images": [{"id": 1, "file_name": "img0.png", "width": 80, "height": 60}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[60, 40, 95, 40, 95, 70, 60, 70]]}
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    report = import_coco(project, path)
    assert any("outside the image" in m.message for m in report.messages)
    coco, _ = build_coco(project)
    (ann,) = coco["annotations"]
    xs, ys = np.asarray(ann["segmentation"][0][0::2]), np.asarray(ann["segmentation"][0][1::2])
    assert xs.max() <= 80 and ys.max() <= 60
    assert ann["bbox"] == [60, 40, 20, 20] and ann["area"] == 400
