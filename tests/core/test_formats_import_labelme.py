"""labelme JSON import (issue 14, item 2): polygons, rectangles, circles, masks and group_id parts."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.formats.dataset import DatasetError
from annotator.core.formats.dataset_import import ImportDatasetCommand, import_dataset
from annotator.core.undo import UndoStack
from tests.core.formats_helpers import (
    PENTAGON,
    TINY,
    TWO_PARTS,
    H,
    W,
    by_category,
    iou,
    poly_mask,
    project_with_images,
)


def pts(ring: list[float]) -> list[list[float]]:
    return [[ring[i], ring[i + 1]] for i in range(0, len(ring), 2)]


def shape(
    label: str, kind: str, points: list[list[float]], group: int | None = None, **extra: object
) -> dict:
    return {
        "label": label,
        "points": points,
        "group_id": group,
        "description": "",
        "shape_type": kind,
        "flags": {},
        **extra,
    }


def b64_png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8) * 255, "L").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def labelme(image_path: str, shapes: list[dict], w: int = W, h: int = H) -> str:
    doc = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None}
    return json.dumps({**doc, "imageHeight": h, "imageWidth": w})


def holed_patch() -> np.ndarray:
    patch = np.ones((12, 10), bool)
    patch[4:8, 3:7] = False
    return patch


def write_set(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shapes0 = [
        shape("cat", "polygon", pts(PENTAGON[0])),
        shape("dog", "rectangle", [[60, 40], [44, 30]]),  # corners in any order
        shape("cat", "polygon", pts(TWO_PARTS[0]), group=1),
        shape("cat", "polygon", pts(TWO_PARTS[1]), group=1),
        shape("dog", "polygon", pts(TWO_PARTS[1]), group=1),  # same group id, other label: its own object
        shape("bird", "circle", [[60, 12], [60, 22]]),
        shape("cat", "line", [[1, 1], [5, 5]]),
        shape("cat", "point", [[3, 3]]),
    ]
    (folder / "img0.json").write_text(labelme("../img0.png", shapes0))
    shapes1 = [
        shape("mask", "mask", [[20, 10], [29, 21]], mask=b64_png(holed_patch())),
        shape("cat", "polygon", pts(TINY[0])),
    ]
    (folder / "img1.json").write_text(labelme("C:\\Users\\me\\photos\\img1.png", shapes1))
    return folder


def test_labelme_shapes_become_objects(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    report = import_dataset(project, write_set(tmp_path / "lm"))
    assert report.format == "labelme" and report.annotations_imported == 7
    assert sorted(m.item for m in report.errors) == ["img0.json shape 7", "img0.json shape 8"]
    assert "'line' covers no area" in report.errors[0].message
    assert any("matched by file name" in m.message and "img1.png" in m.item for m in report.messages)
    cats = {len(i.polygons or ()): i for i in by_category(project, "img0.png", "cat")}
    assert iou(cats[1].mask.array(), poly_mask(PENTAGON)) >= 0.98
    assert iou(cats[2].mask.array(), poly_mask(TWO_PARTS)) >= 0.98  # group 1: one object of two parts
    dogs = sorted(by_category(project, "img0.png", "dog"), key=lambda i: i.box is None)
    assert dogs[0].box == pytest.approx((44, 30, 16, 10)) and dogs[1].box is None
    (bird,) = by_category(project, "img0.png", "bird")
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (xx + 0.5 - 60) ** 2 + (yy + 0.5 - 12) ** 2 <= 100
    assert iou(bird.mask.array(), disc) >= 0.9 and abs(bird.mask.area - math.pi * 100) < 0.05 * math.pi * 100
    (masked,) = by_category(project, "img1.png", "mask")
    expected = np.zeros((H, W), bool)
    expected[10:22, 20:30] = holed_patch()
    assert np.array_equal(masked.mask.array(), expected)  # a mask shape is exact, hole included
    (tiny,) = by_category(project, "img1.png", "cat")
    assert tiny.mask.area == 4


def test_labelme_twice_adds_nothing_and_undo_removes_all(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    project.add_category("CAT")  # differs only in case: reused, reported
    folder = write_set(tmp_path / "lm")
    stack = UndoStack()
    command = ImportDatasetCommand(project, folder, "labelme")
    stack.push(command)
    assert command.report is not None and command.report.annotations_imported == 7
    assert any("only in case or spacing" in m.message for m in command.report.messages)
    assert [c.name for c in project.categories] == ["CAT", "dog", "bird", "mask"]
    again = import_dataset(project, folder / "img0.json")
    assert again.annotations_imported == 0 and again.annotations_duplicate == 5
    stack.undo()
    assert not any(r.instances for r in project.images) and [c.name for c in project.categories] == ["CAT"]


def test_broken_labelme_files(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    folder = write_set(tmp_path / "lm")
    (folder / "bad.json").write_text('{"shapes": [ {"label": "x", ')
    (folder / "img1.json").write_text(
        labelme("../img1.png", [shape("cat", "polygon", [[1, 1], [2, 2]])], w=81)
    )
    report = import_dataset(project, folder, "labelme")
    errors = {m.item: m.message for m in report.errors}
    assert "imageWidth x imageHeight 81x64" in errors["img1.json"]
    assert report.annotations_imported == 5  # img0 still imported
    (folder / "img1.json").write_text(labelme("../img1.png", [shape("cat", "polygon", [[1, 1], [2, 2]])]))
    report = import_dataset(project, folder / "img1.json")
    assert "needs at least 3 points" in report.errors[0].message
    with pytest.raises(DatasetError, match="not valid JSON"):
        import_dataset(project, folder / "bad.json", "labelme")
    (folder / "deep.json").write_text('{"shapes": ' + "[" * 100 + "]" * 100 + "}")
    with pytest.raises(DatasetError, match="nested 10"):
        import_dataset(project, folder / "deep.json", "labelme")


def test_detection_looks_at_a_bounded_number_of_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotator.core.formats import detect

    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(10):
        (folder / f"a{i}.txt").write_text("x")
    (folder / "z.json").write_text(labelme("z.png", []))
    assert detect.detect_format(folder) == "labelme"
    monkeypatch.setattr(detect, "DETECT_ENTRIES", 5)
    with pytest.raises(DatasetError, match="no dataset recognised"):
        detect.detect_format(folder)
    assert detect.labelme_files(folder) == [folder / "z.json"]  # an import still finds every file
