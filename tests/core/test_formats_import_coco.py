"""COCO through the dataset import (issue 14, item 2): file names of other folders matched by file name."""

from __future__ import annotations

import json
from pathlib import Path

from annotator.core.formats.dataset_import import import_dataset
from tests.core.formats_helpers import PENTAGON, H, W, iou, poly_mask, project_with_images


def test_coco_file_names_of_other_folders_are_matched_by_file_name(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    images = [
        {"id": 1, "file_name": "train2017/img0.png", "width": W, "height": H, "license": 3},
        {"id": 2, "file_name": "D:\\data\\img1.png", "width": W, "height": H},
        {"id": 3, "file_name": "elsewhere/zzz.png", "width": W, "height": H},
    ]
    anns = [
        {
            "id": i,
            "image_id": i,
            "category_id": 5,
            "segmentation": PENTAGON,
            "attributes": {"occluded": False},
        }
        for i in (1, 2, 3)
    ]
    data = {
        "info": {"year": 2026},
        "images": images,
        "annotations": anns,
        "categories": [{"id": 5, "name": "cat"}],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    report = import_dataset(project, path)
    assert report.format == "coco" and report.annotations_imported == 2
    matched = sorted(m.item for m in report.messages if "matched by file name" in m.message)
    assert matched == ["image D:\\data\\img1.png", "image train2017/img0.png"]
    assert [m.item for m in report.errors] == ["image 3 (elsewhere/zzz.png)", "annotation 3"]
    (inst,) = project.image("img0.png").instances
    assert iou(inst.mask.array(), poly_mask(PENTAGON)) == 1.0 and inst.category_id == 5
    assert inst.coco_extras == {"attributes": {"occluded": False}} and project.extras["coco"] == {
        "info": {"year": 2026}
    }
    again = import_dataset(project, path, "coco")
    assert again.annotations_imported == 0 and again.annotations_duplicate == 2
