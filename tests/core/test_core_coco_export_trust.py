"""Issue 12, finding 5: export choices a trainer needs, holes that survive detectron2's polygon mode, and
``area`` = the pixel count of what is written."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.cli import main
from annotator.core.coco import build_coco
from annotator.core.model import ImageStatus
from annotator.core.project_store import ProjectStore
from tests.core.helpers import add, disc, make_project, ring, write_image

H, W = 60, 80


def detectron2_polygon_mask(segmentation: object, height: int, width: int) -> np.ndarray:
    """What detectron2's default config (``INPUT.MASK_FORMAT = "polygon"``) makes of a segmentation: the loader
    keeps rings of even length >= 6, ``PolygonMasks`` refuses anything but a list of polygons, and
    ``polygons_to_bitmask`` rasterises them with pycocotools (frPyObjects + merge)."""
    if not isinstance(segmentation, list):
        raise ValueError(f"Cannot convert segmentation of type {type(segmentation).__name__} to polygons")
    polygons = [p for p in segmentation if len(p) % 2 == 0 and len(p) >= 6]
    if not polygons:
        raise ValueError("no valid polygon")
    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    return mask_utils.decode(rle).astype(bool)


def _shapes() -> dict[str, np.ndarray]:
    one = np.zeros((H, W), bool)
    one[5, 5] = True
    diagonal = np.zeros((H, W), bool)
    diagonal[10, 10] = diagonal[11, 11] = True  # two pixels touching at a corner
    three = np.zeros((H, W), bool)
    three[50, 70:73] = True
    island = ring(H, W, 40, 30, 20, 9) | disc(H, W, 40, 30, 3)  # a hole with an island in it
    two_holes = disc(H, W, 40, 30, 22)
    two_holes[25:29, 30:34] = False
    two_holes[32:36, 44:48] = False
    return {
        "ring": ring(H, W, 40, 30, 20, 8),
        "island": island,
        "two_holes": two_holes,
        "parts_with_hole": ring(H, W, 15, 15, 10, 4) | disc(H, W, 65, 45, 6),
        "one_pixel": one,
        "diagonal": diagonal,
        "three_pixels": three,
    }


def test_default_export_loads_in_detectron2_polygon_mode_with_holes(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1)
    shapes = _shapes()
    for mask in shapes.values():
        add(project, "img0.png", mask)
    coco, report = build_coco(project)
    assert report.rle == 0 and report.polygons == len(shapes) and not report.rle_objects
    for ann, (name, mask) in zip(coco["annotations"], shapes.items(), strict=True):
        decoded = detectron2_polygon_mask(ann["segmentation"], H, W)
        assert np.array_equal(decoded, mask), name
        assert ann["area"] == int(decoded.sum()), name
        ys, xs = np.nonzero(decoded)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], name
    for mode in ("polygon", "rle"):
        coco, _ = build_coco(project, mode)
        path = tmp_path / f"{mode}.json"
        path.write_text(json.dumps(coco))
        loaded = COCO(str(path))
        for ann, mask in zip(loaded.dataset["annotations"], shapes.values(), strict=True):
            written = loaded.annToMask(ann).astype(bool)
            assert np.array_equal(written, mask) and ann["area"] == int(written.sum()), mode


def test_which_images_corrupt_ones_never(tmp_path: Path) -> None:
    project = make_project(tmp_path, 3)  # img0, img1, img2
    add(project, "img0.png", disc(H, W, 20, 20, 5))
    project.set_image_status("img1.png", ImageStatus.DONE)  # a checked image without objects: a negative
    project.add_image("broken.jpg", 1, 1, status=ImageStatus.ERROR, error="cannot decode")
    names = {
        choice: [i["file_name"] for i in build_coco(project, images=choice)[0]["images"]]
        for choice in ("annotated", "done", "all")
    }
    assert names["annotated"] == ["img0.png", "img1.png"]
    assert names["done"] == ["img1.png"]
    assert names["all"] == ["img0.png", "img1.png", "img2.png"]
    assert [i["file_name"] for i in build_coco(project)[0]["images"]] == names["annotated"]  # the default
    _coco, report = build_coco(project, images="all")
    assert any("broken.jpg" in w for w in report.warnings)


def test_empty_masks_are_never_written_and_the_export_scores_1_against_itself(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1)
    add(project, "img0.png", disc(H, W, 20, 20, 8))
    add(project, "img0.png", np.zeros((H, W), bool))
    add(project, "img0.png", ring(H, W, 50, 30, 15, 5), category_id=2)
    coco, report = build_coco(project)
    assert len(coco["annotations"]) == 2 and all(a["area"] > 0 for a in coco["annotations"])
    assert any("empty mask" in w and "not written" in w for w in report.warnings)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        results = [dict(a, score=1.0) for a in coco["annotations"]]
        evaluation = COCOeval(gt, gt.loadRes(results), "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_contiguous_category_ids_on_request(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1)  # cat 1, dog 2
    project.add_category("bird", id=7)
    add(project, "img0.png", disc(H, W, 20, 20, 5), category_id=7)
    add(project, "img0.png", disc(H, W, 60, 40, 5), category_id=2)
    kept, _ = build_coco(project)
    assert [c["id"] for c in kept["categories"]] == [1, 2, 7]
    coco, _ = build_coco(project, contiguous_ids=True)
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [(1, "cat"), (2, "dog"), (3, "bird")]
    assert [a["category_id"] for a in coco["annotations"]] == [3, 2]


def test_cli_export_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "data"
    for name in ("a.png", "b.png"):
        write_image(folder / name)
    store = ProjectStore.open(folder)
    store.project.add_image("a.png", W, H)
    store.project.add_image("b.png", W, H)
    store.project.add_category("thing", id=5)
    add(store.project, "a.png", ring(H, W, 40, 30, 20, 8), category_id=5)
    add(store.project, "a.png", np.zeros((H, W), bool), category_id=5)
    store.save()
    out = tmp_path / "out.json"
    assert main(["export", str(folder), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    data = json.loads(out.read_text())
    assert [i["file_name"] for i in data["images"]] == ["a.png"] and len(data["annotations"]) == 1
    assert isinstance(data["annotations"][0]["segmentation"], list)
    assert "empty mask" in captured.err
    args = ["export", str(folder), "--out", str(out), "--images", "all", "--contiguous-ids"]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert [i["file_name"] for i in data["images"]] == ["a.png", "b.png"]
    assert data["categories"][0]["id"] == 1 and data["annotations"][0]["category_id"] == 1
