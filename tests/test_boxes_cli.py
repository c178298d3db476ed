"""``main.py boxes-to-masks``: COCO boxes in, COCO proposals out, read back with pycocotools (issue 14 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from annotator.cli import main
from annotator.core.box_objects import read_coco_boxes
from sam_model.box_prompts import masks_for_boxes
from sam_model.build import load_predictor

H, W = 120, 160
OBJECTS = {"red": (20, 15, 70, 60), "green": (100, 60, 140, 110)}  # x0, y0, x1, y1 (exclusive)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with one scene, one corrupt image, and a COCO file of boxes (two box-only, one mask)."""
    folder = tmp_path / "images"
    folder.mkdir()
    rgb = np.full((H, W, 3), 40, np.uint8)
    rgb[15:60, 20:70] = (220, 30, 30)
    rgb[60:110, 100:140] = (30, 200, 60)
    Image.fromarray(rgb).save(folder / "scene.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    boxes = [[x0 - 3, y0 - 3, x1 - x0 + 6, y1 - y0 + 6] for x0, y0, x1, y1 in OBJECTS.values()]
    data = {
        "images": [
            {"id": 5, "file_name": "scene.png", "width": W, "height": H},
            {"id": 6, "file_name": "broken.jpg", "width": W, "height": H},
        ],
        "categories": [{"id": 2, "name": "thing"}, {"id": 4, "name": "other"}],
        "annotations": [
            {"id": 21, "image_id": 5, "category_id": 2, "bbox": boxes[0]},
            {"id": 22, "image_id": 5, "category_id": 4, "bbox": boxes[1], "segmentation": []},
            {
                "id": 23,
                "image_id": 5,
                "category_id": 2,
                "bbox": [0, 0, 5, 5],
                "segmentation": [[0, 0, 5, 0, 5, 5]],
            },
            {"id": 24, "image_id": 6, "category_id": 2, "bbox": [1, 1, 9, 9]},
        ],
    }
    coco = tmp_path / "boxes.json"
    coco.write_text(json.dumps(data))
    return folder, coco


def _truth(name: str) -> np.ndarray:
    x0, y0, x1, y1 = OBJECTS[name]
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_coco_boxes_become_proposals_pycocotools_reads(dataset, tmp_path, capsys) -> None:
    folder, coco_in = dataset
    out = tmp_path / "out" / "masks.json"
    status = main(
        ["boxes-to-masks", str(folder), "--in", str(coco_in), "--out", str(out), "--checkpoint", "classic"]
    )
    assert status == 1  # broken.jpg was skipped
    err = capsys.readouterr().err
    assert "broken.jpg: skipped (" in err and str(folder / "broken.jpg") in err
    assert "scene.png: 2/2 masks" in err and "with a segmentation left out" in err
    assert "wrote" in err and "2 masks from 3 boxes" in err
    assert [p.name for p in out.parent.iterdir()] == ["masks.json"]
    coco = COCO(str(out))
    assert [(i["id"], i["file_name"]) for i in coco.dataset["images"]] == [(5, "scene.png")]
    assert {c["id"] for c in coco.dataset["categories"]} == {2, 4}
    anns = {a["source_box_id"]: a for a in coco.dataset["annotations"]}
    assert set(anns) == {21, 22}
    for source, name, category in ((21, "red", 2), (22, "green", 4)):
        ann = anns[source]
        assert ann["image_id"] == 5 and ann["category_id"] == category and ann["iscrowd"] == 0
        assert isinstance(ann["segmentation"]["counts"], str) and 0.0 <= ann["score"] <= 1.0
        mask = coco.annToMask(ann).astype(bool)
        assert int(mask.sum()) == ann["area"]
        truth = _truth(name)
        assert (mask & truth).sum() / (mask | truth).sum() > 0.8


def test_project_boxes_with_a_sam_checkpoint_match_the_model_function(
    dataset, shared, tmp_path, capsys
) -> None:
    checkpoint = shared / "reference" / "sam" / "sam_tiny_a.pth"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} not found")
    folder, coco_in = dataset
    assert main(["import", str(folder), str(coco_in)]) in (0, 1)  # broken.jpg is refused
    out, cache = tmp_path / "masks.json", tmp_path / "cache"
    args = [
        "boxes-to-masks",
        str(folder),
        "--checkpoint",
        str(checkpoint),
        "--device",
        "cpu",
        "--cache-dir",
        str(cache),
    ]
    status = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert any(cache.rglob("*"))  # the embedding was cached...
    assert main([*args, "--out", str(tmp_path / "again.json")]) == 0  # ...and restored: the same masks
    again = json.loads((tmp_path / "again.json").read_text())["annotations"]
    assert again == json.loads(out.read_text())["annotations"]
    coco = COCO(str(out))
    anns = coco.dataset["annotations"]
    image = read_coco_boxes(coco_in).images[0]  # scene.png (broken.jpg is not in the project)
    predictor = load_predictor(checkpoint, device="cpu")
    rgb = np.asarray(Image.open(folder / "scene.png").convert("RGB"))
    expected = [m for m in masks_for_boxes(predictor, rgb, image.boxes_xyxy()) if m.mask.any()]
    assert len(anns) == len(expected) and "ms per box beyond encoding" in err
    for ann, want in zip(anns, expected, strict=True):
        assert np.array_equal(coco.annToMask(ann).astype(bool), want.mask)
        assert ann["score"] == pytest.approx(want.score, abs=1e-5)
    # the project's object ids, not the file's annotation ids, name the boxes
    assert {a["source_box_id"] for a in anns} <= {i["id"] for i in _project_instances(folder)}


def _project_instances(folder: Path) -> list[dict]:
    from annotator.core.project_store import ProjectStore

    project = ProjectStore.open(folder).project
    return [{"id": inst.id} for inst in project.iter_instances() if inst.box is not None]


def test_usage_errors_are_one_line(tmp_path, capsys) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    assert (
        main(["boxes-to-masks", str(folder), "--out", str(tmp_path / "o.json"), "--checkpoint", "classic"])
        == 2
    )
    assert "no box-only objects" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    args = ["boxes-to-masks", str(folder), "--in", str(bad), "--out", str(tmp_path / "o.json")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.json" in err and "not valid JSON" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.json").exists()
