"""Issue 14: YOLO segmentation and detection export, read back by Ultralytics' label rules and rasterised with
pycocotools against the original masks."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from annotator.core.formats.export import ExportOptions, export_dataset
from annotator.core.formats.output import ExportCancelled, ExportError
from annotator.core.formats.polygon_merge import merge_rings
from annotator.core.formats.selection import select_for_export
from annotator.core.formats.yolo_export import export_yolo
from tests.core.export_fixtures import H, W, build, iou, rasterise, tiny
from tests.core.helpers import add


def read_ultralytics_labels(path: Path, nc: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A label file as Ultralytics' ``verify_image_label`` reads it: rows of floats (float32), a segment
    file when any row has more than 6 values, every value >= 0, coordinates <= 1, classes < ``nc``, no
    repeated rows. Returns the classes and the segments (normalised ``N x 2``) or boxes."""
    rows = [line.split() for line in path.read_text().strip().splitlines() if line]
    if not rows:
        return np.zeros(0), []
    if any(len(row) > 6 for row in rows):
        classes = np.array([row[0] for row in rows], dtype=np.float32)
        shapes = [np.array(row[1:], dtype=np.float32).reshape(-1, 2) for row in rows]
        assert all(len(s) >= 3 for s in shapes), "a segment has at least 3 points"
    else:
        values = np.array(rows, dtype=np.float32)
        assert values.shape[1] == 5, "detection rows are 'class cx cy w h'"
        classes, shapes = values[:, 0], [row[1:] for row in values]
    assert (classes >= 0).all() and (classes < nc).all() and (classes == classes.astype(int)).all()
    assert all((s >= 0).all() and (s <= 1).all() for s in shapes), "coordinates normalised to [0, 1]"
    assert len(np.unique(np.array([" ".join(r) for r in rows]))) == len(rows), "no repeated rows"
    return classes.astype(int), shapes


def test_yolo_seg_reads_back_as_the_masks(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    selection = select_for_export(project)
    report = export_yolo(selection, tmp_path / "yolo", task="yolo-seg")
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data["names"] == {0: "cat", 1: "dog", 2: "tiny"}  # contiguous from 0, project order
    assert (Path(data["path"]) / data["train"]).is_dir() and data["val"] == data["train"]
    assert sorted(p.name for p in (tmp_path / "yolo" / "images").iterdir()) == ["img0.png", "img1.png"]
    assert (tmp_path / "yolo" / "labels" / "img1.txt").read_text() == ""  # a negative
    classes, segments = read_ultralytics_labels(tmp_path / "yolo" / "labels" / "img0.txt", len(data["names"]))
    written = [
        i for i in project.image("img0.png").instances if i.mask.area and not i.iscrowd and i.box is None
    ]
    assert list(classes) == [i.category_id - 1 for i in written]
    ious = []
    for instance, segment in zip(written, segments, strict=True):
        pixels = (segment.astype(np.float64) * [W, H]).ravel().tolist()
        ious.append(iou(rasterise([pixels], H, W), instance.mask.array()))
    print(f"yolo-seg: lowest IoU {min(ious):.4f} over {len(ious)} objects")
    assert min(ious) >= 0.98 and report.min_polygon_iou == pytest.approx(min(ious), abs=1e-3)
    changed = "\n".join(report.changed)
    assert "object 1: 1 part(s) and 1 hole(s)" in changed and "object 2: 3 part(s) and 0 hole(s)" in changed
    not_written = "\n".join(report.not_written)
    assert "object 8: box only" in not_written and "object 9: a crowd region" in not_written
    assert report.empty_skipped == 1 and report.images_skipped == 2 and report.objects == len(written)


def test_yolo_det_boxes_are_the_mask_boxes(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    export_yolo(select_for_export(project), tmp_path / "det", task="yolo-det")
    classes, boxes = read_ultralytics_labels(tmp_path / "det" / "labels" / "img0.txt", 3)
    written = [i for i in project.image("img0.png").instances if i.mask.area and not i.iscrowd]
    assert list(classes) == [i.category_id - 1 for i in written]
    for instance, (cx, cy, w, h) in zip(written, boxes, strict=True):
        x, y, bw, bh = instance.box if instance.box is not None else instance.mask.bbox
        expected = [(x + bw / 2) / W, (y + bh / 2) / H, bw / W, bh / H]
        assert np.allclose([cx, cy, w, h], expected, atol=1e-5)


def test_split_is_seeded_and_parallel(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    selection = select_for_export(project, "all")
    options = ExportOptions(format="yolo-seg", images="all", val_fraction=0.34, seed=7, image_mode="copy")
    export_dataset(selection, tmp_path / "a", options)
    export_dataset(selection, tmp_path / "b", options)
    for part in ("train", "val"):
        images = sorted(p.stem for p in (tmp_path / "a" / "images" / part).iterdir())
        labels = sorted(p.stem for p in (tmp_path / "a" / "labels" / part).iterdir())
        assert images == labels and images == sorted(
            p.stem for p in (tmp_path / "b" / "images" / part).iterdir()
        )
    assert len(list((tmp_path / "a" / "images" / "val").iterdir())) == 1  # round(3 * 0.34)
    assert not (tmp_path / "a" / "images" / "train" / "img0.png").is_symlink()  # copied
    data = yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())
    assert (data["train"], data["val"]) == ("images/train", "images/val")


def test_same_stem_images_get_their_own_labels(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    (tmp_path / "project" / "img0.jpg").write_bytes((tmp_path / "project" / "img0.png").read_bytes())
    project.add_image("img0.jpg", W, H)
    add(project, "img0.jpg", tiny(H, W, 5, 5, 4), 1)
    report = export_yolo(select_for_export(project), tmp_path / "yolo")
    labels = sorted(p.name for p in (tmp_path / "yolo" / "labels").iterdir())
    assert labels == ["img0.txt", "img0_2.txt", "img1.txt"]
    assert (tmp_path / "yolo" / "images" / "img0_2.jpg").exists()
    assert any("img0.jpg: written as img0_2" in w for w in report.warnings)


def test_refuses_a_non_empty_folder_and_stops_on_cancel(tmp_path: Path) -> None:
    selection = select_for_export(build(tmp_path / "project"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export_yolo(selection, tmp_path / "out")
    export_yolo(selection, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "keep.txt").exists() and (tmp_path / "out" / "data.yaml").exists()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        export_yolo(selection, tmp_path / "cancelled", cancel=cancel)


def test_merge_rings_joins_parts_with_bridges_that_add_nothing() -> None:
    squares = [[0, 0, 4, 0, 4, 4, 0, 4], [10, 0, 14, 0, 14, 4, 10, 4], [20, 10, 24, 10, 24, 14, 20, 14]]
    merged = merge_rings(squares).ravel().tolist()
    expected = rasterise(squares, 20, 30)
    assert np.array_equal(rasterise([merged], 20, 30), expected) and expected.sum() == 48
    assert merge_rings(squares[:1]).ravel().tolist() == [float(v) for v in squares[0]]
