from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from annotator.cli import main
from annotator.core.brush import apply_disc, apply_stroke
from annotator.core.coco import build_coco, export_coco
from annotator.core.coco_import import import_coco
from annotator.core.errors import CocoError, MaskError
from annotator.core.geometry import (
    geometry_to_coco_polygons,
    geometry_to_mask,
    has_holes,
    mask_to_geometry,
    simplify_geometry,
)
from annotator.core.masks import Mask
from annotator.core.model import Project
from annotator.core.project_store import ProjectStore, sync_images
from annotator.core.undo import UndoStack, set_mask_command
from tests.core.helpers import add, disc, make_project, ring, write_image


def _decoded(coco_path: Path) -> dict[int, np.ndarray]:
    coco = COCO(str(coco_path))
    return {a["id"]: coco.annToMask(a).astype(bool) for a in coco.dataset["annotations"]}


def test_geometry_exact_roundtrip_and_simplify() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        m = rng.random((25, 30)) > 0.55
        assert np.array_equal(geometry_to_mask(mask_to_geometry(m), 25, 30), m)
    r = ring(60, 80, 40, 30, 20, 8)
    geom = mask_to_geometry(r)
    assert has_holes(r) and len(geom.geoms[0].interiors) == 1
    assert geometry_to_coco_polygons(geom) is None
    simple = simplify_geometry(geom, 1.0)
    assert len(simple.geoms[0].exterior.coords) < len(geom.geoms[0].exterior.coords)
    back = geometry_to_mask(simple, 60, 80)
    assert not back[30, 40] and back[30, 25]  # hole kept, body kept
    assert np.count_nonzero(back ^ r) < 0.1 * r.sum()
    with pytest.raises(MaskError):
        simplify_geometry(geom, -1)


def test_brush_and_eraser(tmp_path: Path) -> None:
    m = np.zeros((40, 60), bool)
    box = apply_stroke(m, [(10, 10), (40, 10)], 3)
    assert m[10, 10:41].all() and m[13, 25] and not m[15, 25] and box[0] <= 7
    apply_disc(m, 25.5, 10.5, 2, erase=True)
    assert not m[10, 25] and m[10, 20]
    with pytest.raises(MaskError):
        apply_stroke(Mask.from_array(m).array(), [(1, 1)], 2)  # read-only arrays are refused
    project = make_project(tmp_path, 1)
    iid = add(project, "img0.png", disc(60, 80, 30, 30, 10))
    work = project.image("img0.png").instance(iid).mask.array().copy()
    apply_stroke(work, [(30, 30)], 4, erase=True)
    apply_stroke(work, [(60, 50), (70, 50)], 2)
    UndoStack().push(set_mask_command(project, "img0.png", iid, Mask.from_array(work)))
    export_coco(project, tmp_path / "out.json", "rle")
    assert np.array_equal(_decoded(tmp_path / "out.json")[1], work)


def test_export_conventions_auto_polygon_rle(tmp_path: Path) -> None:
    project = make_project(tmp_path, 2)
    masks = {
        "simple": disc(60, 80, 20, 20, 8),
        "holed": ring(60, 80, 50, 30, 15, 6),
        "parts": disc(60, 80, 10, 50, 5) | disc(60, 80, 70, 10, 4),
        "crowd": disc(60, 80, 40, 40, 6),
    }
    add(project, "img0.png", masks["simple"])
    add(project, "img0.png", masks["holed"], category_id=2)
    add(project, "img1.png", masks["parts"])
    add(project, "img1.png", masks["crowd"], iscrowd=1)
    project.add_category("unused")
    coco, report = build_coco(project, "auto")
    assert [i["id"] for i in coco["images"]] == [1, 2] and coco["images"][0]["file_name"] == "img0.png"
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3]
    anns = coco["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4] and [a["image_id"] for a in anns] == [1, 1, 2, 2]
    kinds = ["list" if isinstance(a["segmentation"], list) else "rle" for a in anns]
    # the doughnut is a polygon with its hole bridged (issue 12); only the crowd region is RLE
    assert kinds == ["list", "list", "list", "rle"] and (report.polygons, report.rle) == (3, 1)
    assert isinstance(anns[3]["segmentation"]["counts"], str)
    assert [a["iscrowd"] for a in anns] == [0, 0, 0, 1] and all(type(a["iscrowd"]) is int for a in anns)
    assert len(anns[2]["segmentation"]) == 2  # two parts, two rings
    for ann, m in zip(anns, masks.values(), strict=True):
        ys, xs = np.nonzero(m)
        assert ann["area"] == int(m.sum())
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    for mode in ("auto", "polygon", "rle"):
        report = export_coco(project, tmp_path / f"{mode}.json", mode)
        decoded = _decoded(tmp_path / f"{mode}.json")
        for ann_id, m in enumerate(masks.values(), start=1):
            assert np.array_equal(decoded[ann_id], m), (mode, ann_id)
        if mode == "polygon":  # the doughnut keeps its hole as polygons too
            assert report.rle == 1 and not report.warnings and not report.rle_objects
        if mode == "rle":
            assert report.polygons == 0


def _coco_file(tmp_path: Path) -> Path:
    poly = [[10.0, 10.0, 30.0, 10.0, 30.0, 25.0, 10.0, 25.0]]
    holed = ring(60, 80, 50, 30, 15, 6)
    from pycocotools import mask as mu

    rle = mu.encode(np.asfortranarray(holed.astype(np.uint8)))
    flat = holed.flatten(order="F").astype(int)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    compressed = {"size": [60, 80], "counts": rle["counts"].decode()}
    uncompressed = {"size": [60, 80], "counts": counts}
    data = {
        "images": [
            {"id": 1, "file_name": "img0.png", "width": 80, "height": 60},
            {"id": 2, "file_name": "missing.png", "width": 80, "height": 60},
        ],
        "categories": [{"id": 7, "name": "Cat"}, {"id": 9, "name": "fish", "supercategory": "sea"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 9, "segmentation": poly, "iscrowd": False},
            {"id": 2, "image_id": 1, "category_id": 9, "segmentation": compressed, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 9, "segmentation": uncompressed, "iscrowd": True},
            {"id": 4, "image_id": 2, "category_id": 9, "segmentation": poly, "iscrowd": 0},
            {"id": 5, "image_id": 1, "category_id": 42, "segmentation": poly, "iscrowd": 0},
            {"id": 6, "image_id": 1, "category_id": 7, "segmentation": [[1, 2, 3]], "iscrowd": 0},
            {"id": 7, "image_id": 1, "category_id": 7, "segmentation": {"size": [10, 10], "counts": "zz"}},
        ],
    }  # fmt: skip
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    return path


def test_import_reports_item_by_item_and_roundtrips(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1)  # has categories cat (1) and dog (2)
    path = _coco_file(tmp_path)
    report = import_coco(project, path)
    errors = {m.item.split()[1]: m.message for m in report.errors}
    assert "missing image file" in errors["2"]  # image 2
    assert "unknown category id 42" in errors["5"]
    assert errors["6"].startswith("malformed segmentation") and errors["7"].startswith(
        "malformed segmentation"
    )
    assert "image id 2" in errors["4"]
    assert report.annotations_imported == 3 and report.images_added == 0 and report.images_matched == 1
    # name match; the project's "cat" had no annotations, so it takes the file's id 7 (issue 12)
    assert project.category_by_name("cat").id == 7 and project.category(9).name == "fish"
    assert [i.iscrowd for i in project.image("img0.png").instances] == [0, 0, 1]
    export_coco(project, tmp_path / "out.json", "auto")
    original = COCO(str(path))
    exported = _decoded(tmp_path / "out.json")
    for new_id, old_id in zip((1, 2, 3), (1, 2, 3), strict=True):
        assert np.array_equal(exported[new_id], original.annToMask(original.anns[old_id]).astype(bool))
    with pytest.raises(CocoError, match="not valid JSON"):
        bad = tmp_path / "bad.json"
        bad.write_text("{")
        import_coco(project, bad)


def test_end_to_end_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "data"
    write_image(folder / "a.png")
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(folder / "b.jpg")
    store = ProjectStore.open(folder)
    sync_images(store.project)
    store.project.add_category("thing")
    m1, m2 = disc(60, 80, 30, 30, 12), ring(60, 80, 40, 30, 20, 5)
    add(store.project, "a.png", m1)
    add(store.project, "b.jpg", m2)
    store.save()
    out = tmp_path / "coco.json"
    assert main(["export", str(folder), "--out", str(out), "--segmentation", "auto"]) == 0
    assert "2 annotations" in capsys.readouterr().out
    decoded = _decoded(out)
    assert np.array_equal(decoded[1], m1) and np.array_equal(decoded[2], m2)
    # import into a fresh folder with the same images
    other = tmp_path / "other"
    write_image(other / "a.png")
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(other / "b.jpg")
    assert main(["import", str(other), str(out)]) == 0
    reopened = ProjectStore.open(other).project
    assert np.array_equal(reopened.image("b.jpg").instances[0].mask.array(), m2)
    assert main(["export", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "no project file" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("[]")
    assert main(["import", str(other), str(tmp_path / "junk.json")]) == 2
    assert "not a COCO dataset" in capsys.readouterr().err
    assert Project(other).root == other


def test_import_reports_unhashable_ids_item_by_item(tmp_path: Path) -> None:
    project = make_project(tmp_path, 1)
    poly = [[10.0, 10.0, 30.0, 10.0, 30.0, 25.0]]
    data = {
        "images": [{"id": 1, "file_name": "img0.png", "width": 80, "height": 60}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": [1], "category_id": 1, "segmentation": poly},
            {"id": 2, "image_id": 1, "category_id": {"id": 1}, "segmentation": poly},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": poly},
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    report = import_coco(project, path)  # no TypeError: each bad annotation is one message
    assert [m.item for m in report.errors] == ["annotation 1", "annotation 2"]
    assert report.annotations_imported == 1


def test_import_file_names_stay_relative_to_the_root(tmp_path: Path) -> None:
    project = make_project(tmp_path, 2)
    outside = write_image(tmp_path.parent / f"{tmp_path.name}-outside.png")
    data = {
        "images": [
            {"id": 1, "file_name": str(tmp_path / "img0.png"), "width": 80, "height": 60},
            {"id": 2, "file_name": "./img1.png", "width": 80, "height": 60},
            {"id": 3, "file_name": str(outside), "width": 80, "height": 60},
            {"id": 4, "file_name": f"../{outside.name}", "width": 80, "height": 60},
        ],
        "categories": [],
        "annotations": [],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    report = import_coco(project, path)
    assert report.images_matched == 2 and report.images_added == 0  # same files, no duplicate records
    assert [m.item.split()[1] for m in report.errors] == ["3", "4"]
    assert [r.file_name for r in project.images] == ["img0.png", "img1.png"]
    exported = build_coco(project, images="all")[0]["images"]
    assert [i["file_name"] for i in exported] == ["img0.png", "img1.png"]


def test_compressed_rle_whose_counts_stop_short_is_rejected(tmp_path: Path) -> None:
    from pycocotools import mask as mu

    from annotator.core.masks import normalize_rle

    short = mu.encode(np.asfortranarray(np.ones((2, 2), np.uint8)))["counts"].decode()  # 4 pixels
    with pytest.raises(MaskError, match="cover 4 pixels, expected 4800"):
        normalize_rle({"size": [60, 80], "counts": short})  # would decode to uninitialised memory
    good = mu.encode(np.asfortranarray(disc(60, 80, 20, 20, 8).astype(np.uint8)))["counts"].decode()
    assert normalize_rle({"size": [60, 80], "counts": good})["counts"] == good
    project = make_project(tmp_path, 1)
    data = {
        "images": [{"id": 1, "file_name": "img0.png", "width": 80, "height": 60}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": {"size": [60, 80], "counts": short}},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": {"size": [60, 80], "counts": good}},
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    report = import_coco(project, path)
    assert [m.item for m in report.errors] == ["annotation 1"] and report.annotations_imported == 1
