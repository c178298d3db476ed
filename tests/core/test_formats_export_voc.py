"""Issue 14: Pascal VOC export, palette PNGs read back with PIL (exact pixels) and the XML with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.core.formats.selection import select_for_export
from annotator.core.formats.voc_export import export_voc
from tests.core.export_fixtures import H, W, build

# The first entries of the Pascal VOC colour map (VOCdevkit's labelcolormap), written out by hand.
VOC_COLOURS = {
    0: (0, 0, 0),
    1: (128, 0, 0),
    2: (0, 128, 0),
    3: (128, 128, 0),
    4: (0, 0, 128),
    255: (224, 224, 192),
}


def test_voc_pngs_hold_the_masks_later_objects_on_top(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    report = export_voc(select_for_export(project), tmp_path / "voc", val_fraction=0.5, seed=3)
    out = tmp_path / "voc"
    instances = project.image("img0.png").instances
    masks = [i for i in instances if i.mask.area and not i.iscrowd and i.box is None]
    expected_objects = np.zeros((H, W), np.uint8)
    expected_classes = np.zeros((H, W), np.uint8)
    for value, instance in enumerate(masks, start=1):
        expected_objects[instance.mask.array()] = value
        expected_classes[instance.mask.array()] = instance.category_id  # ids 1..3 are also the places
    for folder, expected in (
        ("SegmentationObject", expected_objects),
        ("SegmentationClass", expected_classes),
    ):
        image = Image.open(out / folder / "img0.png")
        assert image.mode == "P" and image.size == (W, H)
        palette = image.getpalette()
        assert all(tuple(palette[3 * k : 3 * k + 3]) == rgb for k, rgb in VOC_COLOURS.items())
        assert np.array_equal(np.asarray(image), expected)
        assert np.asarray(Image.open(out / folder / "img1.png")).max() == 0  # the negative
    covered = "\n".join(report.changed)
    assert "object 1: partly" in covered and "covered by later objects" in covered
    root = ET.parse(out / "Annotations" / "img0.xml").getroot()
    assert root.findtext("filename") == "img0.png" and (out / "JPEGImages" / "img0.png").exists()
    assert (root.findtext("size/width"), root.findtext("size/height")) == (str(W), str(H))
    objects = root.findall("object")
    names = {c.id: c.name for c in project.categories}
    box_only = [i for i in instances if i.box is not None]
    assert [o.findtext("name") for o in objects] == [names[i.category_id] for i in masks + box_only]
    for element, instance in zip(objects, masks, strict=False):
        x, y, w, h = instance.mask.bbox
        box = [int(element.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        assert box == [x + 1, y + 1, x + w, y + h]  # 1-based, inclusive
        assert element.findtext("difficult") == "0" and element.findtext("truncated") == "0"
    assert "object 8: box only" in "\n".join(report.not_written)
    assert (out / "labels.txt").read_text().split() == ["background", "cat", "dog", "tiny"]
    sets = out / "ImageSets" / "Segmentation"
    train, val = (sets / "train.txt").read_text().split(), (sets / "val.txt").read_text().split()
    assert sorted(train + val) == ["img0", "img1"] and len(val) == 1
    assert sorted((sets / "trainval.txt").read_text().split()) == ["img0", "img1"]


def test_voc_flattens_subfolders_into_unique_names(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    (tmp_path / "project" / "sub").mkdir()
    (tmp_path / "project" / "sub" / "img0.png").write_bytes((tmp_path / "project" / "img0.png").read_bytes())
    project.add_image("sub/img0.png", W, H)
    project.set_image_status("sub/img0.png", "done")
    export_voc(select_for_export(project), tmp_path / "voc")
    assert sorted(p.name for p in (tmp_path / "voc" / "Annotations").iterdir()) == [
        "img0.xml",
        "img1.xml",
        "sub_img0.xml",
    ]


def test_voc_reports_images_stored_rotated(tmp_path: Path) -> None:
    project = build(tmp_path / "project")
    project.update_image("img0.png", metadata={"exif_orientation": 6})
    report = export_voc(select_for_export(project), tmp_path / "voc")
    assert any("img0.png: the file is stored rotated (EXIF orientation 6)" in w for w in report.warnings)
