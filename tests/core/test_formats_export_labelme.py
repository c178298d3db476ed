"""Issue 14: labelme JSON export, checked against the rules of labelme 5.x's loader (``LabelFile.load`` and
``_load_shape_json_obj``: keys and types) and rasterised with pycocotools against the masks."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from annotator.core.formats.labelme_export import export_labelme
from annotator.core.formats.selection import select_for_export
from tests.core.export_fixtures import H, W, build, iou, rasterise


def check_labelme_schema(path: Path) -> dict[str, Any]:
    """What labelme's loader asks of a file: the keys it reads, ``imagePath`` that opens relative to the
    JSON, sizes that match the image, and shapes with a str label, a non-empty list of ``[x, y]`` numbers, a
    str shape type, flags str -> bool, a str description and an int or null group id."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"} <= set(data)
    assert isinstance(data["version"], str) and data["version"].split(".")[0] == "5"
    assert data["imageData"] is None and isinstance(data["flags"], dict)
    with Image.open(path.parent / data["imagePath"]) as image:
        assert image.size == (data["imageWidth"], data["imageHeight"])
    for shape in data["shapes"]:
        assert isinstance(shape["label"], str) and isinstance(shape["shape_type"], str)
        points = shape["points"]
        assert isinstance(points, list) and points
        assert all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p) for p in points
        )
        assert all(isinstance(k, str) and isinstance(v, bool) for k, v in shape["flags"].items())
        assert isinstance(shape["description"], str)
        assert shape["group_id"] is None or isinstance(shape["group_id"], int)
        assert shape["shape_type"] in {"polygon", "rectangle"}
        assert len(points) >= 3 if shape["shape_type"] == "polygon" else len(points) == 2
    return data


def test_labelme_files_open_and_hold_the_masks(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    report = export_labelme(select_for_export(project), tmp_path / "labelme")
    data = check_labelme_schema(tmp_path / "labelme" / "img0.json")
    assert check_labelme_schema(tmp_path / "labelme" / "img1.json")["shapes"] == []
    assert not (tmp_path / "labelme" / "img2.json").exists()  # not annotated, not done
    polygons = [s for s in data["shapes"] if s["shape_type"] == "polygon"]
    objects: list[list[dict]] = []  # shapes of one object: consecutive, one group id for several parts
    groups: dict[int, list[dict]] = defaultdict(list)
    for shape in polygons:
        if shape["group_id"] is None:
            objects.append([shape])
        else:
            if shape["group_id"] not in groups:
                objects.append(groups[shape["group_id"]])
            groups[shape["group_id"]].append(shape)
    written = [
        i for i in project.image("img0.png").instances if i.mask.area and not i.iscrowd and i.box is None
    ]
    assert len(objects) == len(written) and [len(g) for g in groups.values()] == [3]
    ious = {}
    for instance, shapes in zip(written, objects, strict=True):
        assert {s["label"] for s in shapes} == {project.category(instance.category_id).name}
        rings = [np.asarray(s["points"], dtype=float).ravel().tolist() for s in shapes]
        ious[instance.id] = iou(rasterise(rings, H, W), instance.mask.array())
    print(
        f"labelme: lowest IoU {min(ious.values()):.4f}; without holes {min(v for k, v in ious.items() if k != 1):.4f}"
    )
    assert all(v == 1.0 for k, v in ious.items() if k != 1)  # exact, holes aside
    assert ious[1] < 1.0 and "object 1: 1 hole(s) filled" in "\n".join(report.changed)
    assert report.min_polygon_iou is not None and abs(report.min_polygon_iou - ious[1]) < 1e-6
    rectangles = [s for s in data["shapes"] if s["shape_type"] == "rectangle"]
    assert [r["points"] for r in rectangles] == [[[45.0, 30.0], [53.0, 38.0]]]
    assert "object 9: a crowd region" in "\n".join(report.not_written)


def test_labelme_into_the_image_folder_writes_beside_the_images(tmp_path: Path) -> None:
    project = build(tmp_path)
    report = export_labelme(select_for_export(project), tmp_path, overwrite=True)
    data = check_labelme_schema(tmp_path / "img0.json")
    assert data["imagePath"] == "img0.png" and report.copied_images == 0
    assert sorted(p.name for p in tmp_path.glob("img0*")) == ["img0.json", "img0.png"]
