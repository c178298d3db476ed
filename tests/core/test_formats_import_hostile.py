"""Hostile dataset files give bounded work and one clear message each (ADR 0009 limits, issue 14 import)."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.core.formats import yolo_import
from annotator.core.formats.dataset_import import import_dataset
from tests.core.formats_helpers import project_with_images
from tests.core.test_formats_import_labelme import labelme, shape
from tests.core.test_formats_import_yolo import write_yolo


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1 x 1 PNG whose header (CRC fixed) claims ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), np.uint8), "L").save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the first chunk
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_labelme_mask_shapes_that_claim_huge_sizes(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    shapes = [
        shape("a", "mask", [[0, 0], [1, 1]], mask=base64.b64encode(png_claiming(200_000, 200_000)).decode()),
        shape("b", "mask", [[0, 0], [1, 1]], mask=base64.b64encode(png_claiming(500, 500)).decode()),
        shape("c", "mask", [[0, 0], [1, 1]], mask="not base64 at all!"),
        shape("d", "polygon", [[0, 0], [1e12, 0], [0, 1e12]]),
        shape("e", "circle", [[0, 0], [1e9, 0]]),
    ]
    (tmp_path / "img0.json").write_text(labelme("img0.png", shapes))
    report = import_dataset(project, tmp_path / "img0.json")
    messages = {m.item: m.message for m in report.errors}
    assert len(messages) == 5 and report.annotations_imported == 0
    assert "too large" in messages["img0.json shape 1"]
    assert "larger than the 80x64 image" in messages["img0.json shape 2"]
    assert "not valid base64" in messages["img0.json shape 3"]
    assert "outside the 80x64 image" in messages["img0.json shape 4"]
    assert "far larger than the 80x64 image" in messages["img0.json shape 5"]


def test_voc_png_that_claims_a_huge_size(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    folder = tmp_path / "voc" / "SegmentationObject"
    folder.mkdir(parents=True)
    (folder / "img0.png").write_bytes(png_claiming(200_000, 200_000))
    report = import_dataset(project, tmp_path / "voc")
    assert [m.item for m in report.errors] == ["SegmentationObject/img0.png"]
    assert "limit" in report.errors[0].message


def test_yolo_label_over_the_size_limit_and_non_finite_values(tmp_path: Path, monkeypatch) -> None:
    project = project_with_images(tmp_path, ["img0.png", "img1.png"])
    ds = write_yolo(
        tmp_path, {"img0.png": ["0 0.5 0.5 0.2 0.2"] * 50, "img1.png": ["0 nan 0.5 0.1 0.1", "0 inf 1 1 1"]}
    )
    monkeypatch.setattr(yolo_import, "MAX_LABEL_BYTES", 100)
    report = import_dataset(project, ds)
    errors = {m.item: m.message for m in report.errors}
    assert "label file is 900 bytes (limit 100)" in errors["labels/train/img0.txt"]
    assert (
        "0..1" in errors["labels/train/img1.txt line 1"] and "0..1" in errors["labels/train/img1.txt line 2"]
    )


def test_labelme_file_that_is_not_an_object(tmp_path: Path) -> None:
    project = project_with_images(tmp_path, ["img0.png"])
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "a.json").write_text(json.dumps({"version": "5", "shapes": "nope", "imagePath": "x"}))
    report = import_dataset(project, tmp_path / "lm", "labelme")
    assert [(m.item, m.message) for m in report.errors] == [
        ("a.json", "not a labelme file (no 'shapes' list)")
    ]
