"""``main.py auto``: COCO proposals for a folder, classical engine (no checkpoint)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

sys.path.insert(0, str(Path(__file__).parent))
from test_automatic import make_scene

from annotator.cli import main


def test_auto_writes_loadable_coco(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, objects = make_scene()
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(image).save(folder / "scene.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out" / "proposals.json"
    status = main(["auto", str(folder), "--out", str(out), "--min-area", "50"])
    assert status == 1  # one image was skipped
    err = capsys.readouterr().err
    assert "broken.jpg: skipped" in err and "scene.png:" in err and "proposals" in err
    assert [p.name for p in out.parent.iterdir()] == ["proposals.json"]  # no temporary file left
    coco = COCO(str(out))
    assert [img["file_name"] for img in coco.dataset["images"]] == ["scene.png"]
    assert coco.dataset["categories"] == [{"id": 1, "name": "object", "supercategory": ""}]
    anns = coco.dataset["annotations"]
    assert anns and [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    best = {name: 0.0 for name in ("circle", "rectangle", "triangle")}
    for ann in anns:
        assert ann["iscrowd"] == 0 and ann["category_id"] == 1 and ann["image_id"] == 1
        assert isinstance(ann["segmentation"]["counts"], str)
        assert 0.0 <= ann["score"] <= 1.0 and "stability_score" in ann
        mask = coco.annToMask(ann).astype(bool)
        assert mask.shape == (200, 300) and int(mask.sum()) == ann["area"]
        ys, xs = np.nonzero(mask)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        for name in best:
            obj = objects[name]
            best[name] = max(best[name], float((mask & obj).sum() / (mask | obj).sum()))
    assert all(v > 0.9 for v in best.values()), best
    rle = dict(anns[0]["segmentation"])
    np.testing.assert_array_equal(mask_utils.decode(coco.annToRLE(anns[0])), coco.annToMask(anns[0]))
    assert json.loads(out.read_text())["annotations"][0]["segmentation"] == rle


def test_auto_reports_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auto", str(tmp_path / "nope"), "--out", str(tmp_path / "p.json")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
