"""Pascal VOC import (issue 14, item 2): object PNGs to exact masks, XML boxes to box-only objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.formats.dataset import DatasetError
from annotator.core.formats.dataset_import import ImportDatasetCommand, import_dataset
from annotator.core.undo import UndoStack
from tests.core.formats_helpers import H, W, by_category, project_with_images

# VOC devkit colours of the indices used here (labelcolormap), written out by hand.
COLORS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 8: (64, 0, 0), 12: (64, 0, 128)}
COLORS[255] = (224, 224, 192)


def palette_png(path: Path, indices: np.ndarray, *, rgb: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if rgb:
        out = np.zeros((*indices.shape, 3), np.uint8)
        for index, color in COLORS.items():
            out[indices == index] = color
        Image.fromarray(out, "RGB").save(path)
        return
    image = Image.fromarray(indices.astype(np.uint8), "P")
    palette = [0] * 768
    for index, color in COLORS.items():
        palette[3 * index : 3 * index + 3] = color
    image.putpalette(palette)
    image.save(path)


def xml(filename: str, objects: list[tuple[str, tuple[int, int, int, int]]], w: int = W, h: int = H) -> str:
    items = "".join(
        f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
        f"<xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>"
        for n, (a, b, c, d) in objects
    )
    return (
        f"<annotation><folder>VOC</folder><filename>{filename}</filename>"
        f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>{items}</annotation>"
    )


def masks() -> dict[str, np.ndarray]:
    holed = np.zeros((H, W), bool)
    holed[8:38, 40:70] = True
    holed[18:28, 50:60] = False
    parts = np.zeros((H, W), bool)
    parts[40:56, 4:16] = True
    parts[44:58, 24:36] = True
    tiny = np.zeros((H, W), bool)
    tiny[60, 77] = True
    return {"holed": holed, "parts": parts, "tiny": tiny}


def write_voc(root: Path, *, rgb: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """img0: XML (3 objects) + object PNG for the first two (a void border around the first); img1: object
    and class PNGs only (classes from the VOC names)."""
    voc = root / "VOCdevkit" / "VOC2012"
    m = masks()
    objects = np.zeros((H, W), np.uint8)
    objects[m["holed"]] = 1
    objects[m["parts"]] = 2
    border = np.zeros((H, W), bool)
    border[7, 39:71] = True  # a void line above the first object
    objects[border] = 255
    (voc / "Annotations").mkdir(parents=True)
    boxes = [("cat", (41, 9, 70, 38)), ("dog", (5, 41, 36, 58)), ("cat", (3, 4, 12, 10))]
    (voc / "Annotations" / "img0.xml").write_text(xml("img0.png", boxes))
    palette_png(voc / "SegmentationObject" / "img0.png", objects, rgb=rgb)
    obj1 = np.zeros((H, W), np.uint8)
    obj1[m["tiny"]] = 1
    obj1[m["parts"]] = 2
    cls1 = np.zeros((H, W), np.uint8)
    cls1[m["tiny"]] = 8  # cat
    cls1[m["parts"]] = 12  # dog
    palette_png(voc / "SegmentationObject" / "img1.png", obj1, rgb=rgb)
    palette_png(voc / "SegmentationClass" / "img1.png", cls1, rgb=rgb)
    return voc, m


@pytest.mark.parametrize("rgb", [False, True])
def test_voc_object_pngs_are_exact_and_xml_boxes_box_only(tmp_path: Path, rgb: bool) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    _voc, m = write_voc(tmp_path / "data", rgb=rgb)
    report = import_dataset(project, tmp_path / "data")
    assert report.format == "voc" and not report.errors, report.messages
    assert report.annotations_imported == 5
    cats = sorted(by_category(project, "img0.png", "cat"), key=lambda i: i.box is not None)
    assert np.array_equal(cats[0].mask.array(), m["holed"]) and cats[0].box is None
    assert cats[1].box == pytest.approx((2, 3, 10, 7))  # xmin 3..xmax 12 inclusive, 1-based
    (dog,) = by_category(project, "img0.png", "dog")
    assert np.array_equal(dog.mask.array(), m["parts"])
    (tiny,) = by_category(project, "img1.png", "cat")
    assert np.array_equal(tiny.mask.array(), m["tiny"]) and tiny.mask.area == 1
    assert np.array_equal(by_category(project, "img1.png", "dog")[0].mask.array(), m["parts"])
    assert project.category_by_name("cat").id == 8 and project.category_by_name("dog").id == 12  # VOC ids


def test_voc_import_twice_and_undo(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    voc, _m = write_voc(tmp_path / "data")
    stack = UndoStack()
    command = ImportDatasetCommand(project, voc)
    stack.push(command)
    assert command.report is not None and command.report.annotations_imported == 5
    again = import_dataset(project, voc, "voc")
    assert again.annotations_imported == 0 and again.annotations_duplicate == 5
    stack.undo()
    assert not any(r.instances for r in project.images) and not project.categories


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("labelmap.txt", "# label:color_rgb:parts:actions\nbackground:0,0,0::\nroad:1,1,1::\nsign:2,2,2::\n"),
        ("labels.txt", "background\nroad\nsign\n"),
    ],
)
def test_voc_label_map_names_and_matching_by_stem(tmp_path: Path, name: str, text: str) -> None:
    project = project_with_images(tmp_path / "proj", ["img0.png"])
    voc = tmp_path / "voc"
    objects = np.zeros((H, W), np.uint8)
    objects[2:5, 3:6] = 1
    classes = np.where(objects == 1, 2, 0).astype(np.uint8)
    palette_png(voc / "SegmentationObject" / "img0.png", objects)
    palette_png(voc / "SegmentationClass" / "img0.png", classes)
    (voc / name).write_text(text)
    report = import_dataset(project, voc)
    (inst,) = project.image("img0.png").instances
    assert project.category(inst.category_id).name == "sign" and inst.category_id == 2 and inst.mask.area == 9
    assert any("matched by stem" in m.message for m in report.messages)


def test_broken_voc_files_are_reported_and_the_rest_imported(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png", "img2.png", "img3.png"])
    voc, _m = write_voc(tmp_path / "data")
    ann = voc / "Annotations"
    (ann / "img2.xml").write_text("<annotation><object><name>cat</name>")  # truncated
    (ann / "img3.xml").write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotation/>')
    (ann / "img4.xml").write_text(xml("img4.png", [("cat", (1, 1, 2, 2))]))  # no such image
    (ann / "img1.xml").write_text(xml("img1.png", [("cat", (1, 1, 2, 2))], w=10))  # wrong size
    wrong = np.zeros((10, 10), np.uint8)
    palette_png(voc / "SegmentationObject" / "img3.png", wrong)
    report = import_dataset(project, voc)
    errors = {m.item: m.message for m in report.errors}
    assert "not valid XML" in errors["Annotations/img2.xml"]
    assert "document type" in errors["Annotations/img3.xml"]
    assert "no image in the project folder" in errors["image img4.png"]
    assert "size 10x64" in errors["Annotations/img1.xml"]
    assert "mask is 10x10" in errors["SegmentationObject/img3.png"]
    assert report.annotations_imported == 3  # img0's objects


def test_not_a_voc_folder_is_one_clear_error(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no Annotations/ or SegmentationObject/"):
        import_dataset(project, tmp_path / "empty", "voc")
