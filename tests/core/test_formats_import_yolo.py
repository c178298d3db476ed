"""YOLO segmentation / detection import (issue 14, item 2): datasets written by hand, read back as masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
    holed_mask,
    iou,
    poly_mask,
    project_with_images,
)

# Holes and parts joined into one ring by zero-width bridges, as Ultralytics writes them.
HOLED_BRIDGED = [40, 8, 70, 8, 70, 38, 40, 38, 40, 18, 50, 18, 50, 28, 60, 28, 60, 18, 50, 18, 40, 18]
PARTS_BRIDGED = [4, 40, 16, 40, 16, 48, 24, 48, 24, 44, 36, 44, 36, 58, 24, 58, 24, 48, 16, 48, 16, 56, 4, 56]


def seg_line(cls: int, ring: list[float]) -> str:
    coords = [v / (W if i % 2 == 0 else H) for i, v in enumerate(ring)]
    return " ".join([str(cls), *(f"{c:.6f}" for c in coords)])


def box_line(cls: int, x: float, y: float, w: float, h: float) -> str:
    return f"{cls} {(x + w / 2) / W:.6f} {(y + h / 2) / H:.6f} {w / W:.6f} {h / H:.6f}"


def write_yolo(
    root: Path, labels: dict[str, list[str]], *, images: bool = True, yaml: str | None = None
) -> Path:
    """A dataset under ``root``: ``data.yaml``, ``labels/train/NAME.txt`` and (``images``) the images."""
    ds = root / "ds"
    for name, lines in labels.items():
        (ds / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (ds / "labels" / "train" / f"{Path(name).stem}.txt").write_text("\n".join(lines) + "\n")
        if images:
            project_with_images(ds / "images" / "train", [name])
    text = (
        yaml
        if yaml is not None
        else "path: .\ntrain: images/train\nval: images/train\nnames:\n  0: cat\n  1: dog\n"
    )
    (ds / "data.yaml").write_text(text)
    return ds


SEG = {
    "img0.png": [seg_line(0, PENTAGON[0]), seg_line(1, HOLED_BRIDGED), box_line(1, 2, 3, 10, 6)],
    "img1.png": [seg_line(0, PARTS_BRIDGED), seg_line(1, TINY[0])],
}


def test_yolo_seg_masks_with_holes_parts_tiny_and_boxes(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    ds = write_yolo(tmp_path, SEG)
    report = import_dataset(project, ds)
    assert report.format == "yolo-seg"
    assert report.annotations_imported == 5 and not report.errors, report.messages
    pentagon, box = sorted(
        by_category(project, "img0.png", "cat") + by_category(project, "img0.png", "dog")[1:],
        key=lambda i: i.box is not None,
    )
    assert iou(pentagon.mask.array(), poly_mask(PENTAGON)) >= 0.98
    holed = by_category(project, "img0.png", "dog")[0]
    assert iou(holed.mask.array(), holed_mask()) >= 0.98
    assert not holed.mask.array()[20:27, 52:59].any()  # the hole stays a hole
    assert box.box == pytest.approx((2, 3, 10, 6), abs=1e-3)
    parts = by_category(project, "img1.png", "cat")[0]
    assert iou(parts.mask.array(), poly_mask(TWO_PARTS)) >= 0.98
    tiny = by_category(project, "img1.png", "dog")[0]
    assert iou(tiny.mask.array(), poly_mask(TINY)) >= 0.98 and tiny.mask.area == 4
    # the dataset's images are copies elsewhere: matched by file name, and reported
    matched = [m for m in report.messages if "matched by file name" in m.message]
    assert len(matched) == 2 and all(m.level == "warning" for m in matched)
    assert [c.name for c in project.categories] == ["cat", "dog"] and project.category_by_name("cat").id == 0


def test_importing_twice_adds_nothing_and_one_undo_removes_it_all(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    ds = write_yolo(tmp_path, SEG)
    stack = UndoStack()
    first = ImportDatasetCommand(project, ds)
    stack.push(first)
    assert first.report is not None and first.report.annotations_imported == 5
    again = import_dataset(project, ds)
    assert (
        again.annotations_imported == 0 and again.annotations_duplicate == 5 and again.categories_added == 0
    )
    assert sum(1 for _ in project.iter_instances()) == 5
    stack.undo()
    assert sum(1 for _ in project.iter_instances()) == 0 and not project.categories
    stack.redo()
    assert sum(1 for _ in project.iter_instances()) == 5


def test_yolo_detection_boxes_and_det_format_on_a_seg_set(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    ds = write_yolo(tmp_path, {"img0.png": [box_line(0, 8, 4, 20, 16), box_line(1, 40, 30, 1, 1)]})
    report = import_dataset(project, ds)
    assert report.format == "yolo-det" and report.annotations_imported == 2
    boxes = sorted(i.box for i in project.image("img0.png").instances)
    assert boxes[0] == pytest.approx((8, 4, 20, 16), abs=1e-3) and boxes[1] == pytest.approx(
        (40, 30, 1, 1), abs=1e-3
    )
    other = project_with_images(tmp_path / "other", ["img0.png", "img1.png"])
    report = import_dataset(other, write_yolo(tmp_path / "other", SEG), "yolo-det")
    assert report.format == "yolo-det" and report.annotations_imported == 5
    pentagon = by_category(other, "img0.png", "cat")[0]
    assert pentagon.box == pytest.approx((8, 6, 26, 24), abs=1e-3)  # the polygon's bounding box


def test_labels_only_set_matched_by_stem_with_classes_txt(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["a.jpg", "b.jpg"])
    ds = tmp_path / "exported"
    (ds / "labels").mkdir(parents=True)
    (ds / "classes.txt").write_text("cat\ndog\n")
    (ds / "labels" / "a.txt").write_text(seg_line(1, PENTAGON[0]) + "\n")
    (ds / "labels" / "missing.txt").write_text(seg_line(0, TINY[0]) + "\n")
    (ds / "labels" / "val").mkdir()
    (ds / "labels" / "val" / "a.txt").write_text(seg_line(0, TINY[0]) + "\n")  # a second label for a.jpg
    report = import_dataset(project, ds)
    assert report.annotations_imported == 2
    assert any("matched by both" in m.message and m.item == "image a.jpg" for m in report.messages)
    assert by_category(project, "a.jpg", "dog")
    assert any("matched by stem" in m.message for m in report.messages)
    assert [m.item for m in report.errors] == ["image missing"]
    assert "no image in the project folder matches" in report.errors[0].message


def test_data_yaml_names_list_and_images_inside_the_project(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, [])
    ds = write_yolo(
        tmp_path, {"x.png": [seg_line(0, PENTAGON[0])]}, yaml="train: images/train\nnames: ['only']\n"
    )
    report = import_dataset(project, ds / "data.yaml")
    assert report.annotations_imported == 1 and report.images_added == 1 and not report.errors
    key = "ds/images/train/x.png"  # its own path: the one file that exists
    assert project.has_image(key) and not any("matched" in m.message for m in report.messages)


def test_bad_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    lines = [
        "7 0.5 0.5 0.1 0.1",
        "0 0.5 zero 0.1 0.1",
        "0 0.5 0.5 1.5 0.1",
        "0 0.1 0.1 0.2 0.2 0.3",
        box_line(0, 1, 1, 4, 4),
    ]
    report = import_dataset(project, write_yolo(tmp_path, {"img0.png": lines}))
    assert report.annotations_imported == 1
    assert [m.item for m in report.errors] == [f"labels/train/img0.txt line {n}" for n in (1, 2, 3, 4)]
    assert "class '7'" in report.errors[0].message and "0..1" in report.errors[2].message


@pytest.mark.parametrize(
    ("yaml", "reason"),
    [
        ("names: [a\n", "not valid YAML"),
        ("- just a list\n", "no mapping"),
        ("names: 3\n", "no class 'names'"),
        ("names: [a]\nkpt_shape: [17, 3]\n", "pose"),
        ("names: {x: a}\n", "not a non-negative integer"),
        ("names: " + "[" * 20000 + "\n", "nested too deeply"),
    ],
)
def test_broken_data_yaml_is_one_clear_error(tmp_path: Path, yaml: str, reason: str) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    ds = write_yolo(tmp_path, {"img0.png": []}, yaml=yaml)
    with pytest.raises(DatasetError) as caught:
        import_dataset(project, ds, "yolo-seg")
    assert reason in str(caught.value) and "data.yaml" in str(caught.value)
    assert not project.categories and np.all([not r.instances for r in project.images])


def test_roboflow_layout_with_parent_relative_splits(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    ds = tmp_path / "rf"
    for split, name in (("train", "img0.png"), ("valid", "img1.png")):
        project_with_images(ds / split / "images", [name])
        (ds / split / "labels").mkdir(parents=True)
        (ds / split / "labels" / f"{Path(name).stem}.txt").write_text(seg_line(0, PENTAGON[0]) + "\n")
    (ds / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['cat']\n")
    report = import_dataset(project, ds)
    assert report.annotations_imported == 2 and not report.errors
    assert by_category(project, "img0.png", "cat") and by_category(project, "img1.png", "cat")
    (ds / "data.yaml").write_text("names: ['cat']\n")  # no splits: every labels/ folder is scanned
    again = import_dataset(project, ds)
    assert again.annotations_duplicate == 2 and not again.errors
