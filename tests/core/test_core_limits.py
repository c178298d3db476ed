"""Issue 15, item 3: bounded work on hostile input. Each case is a finding of the issue; every rejection is a
typed error (or an item-by-item import message) naming the limit, never a traceback or a huge allocation."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from annotator.core import limits
from annotator.core.coco_import import import_coco
from annotator.core.errors import CocoError, ImageLoadError, LimitError
from annotator.core.images import load_image, read_image_info
from tests.core.helpers import make_project


def _coco(tmp_path: Path, segmentation: object) -> Path:
    path = tmp_path / "hostile.json"
    data = {
        "images": [{"id": 1, "file_name": "img0.png", "width": 80, "height": 60}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": segmentation}],
    }
    path.write_text(json.dumps(data))
    return path


def test_deeply_nested_coco_is_one_clear_error(tmp_path: Path) -> None:
    """Finding: a deeply nested JSON file gave a RecursionError traceback."""
    path = tmp_path / "deep.json"
    path.write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CocoError, match="nested 100001 levels deep"):
        import_coco(make_project(tmp_path), path)


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert limits.json_depth(b'{"a": "[[[[[[[[[[\\"[[[[", "b": [[1]]}') == 3
    assert limits.parse_json(b'{"name": "' + b"[" * 500 + b'"}') == {"name": "[" * 500}


def test_uncompressed_rle_with_huge_counts_is_rejected(tmp_path: Path) -> None:
    """Finding: an uncompressed RLE with huge counts gave an OverflowError."""
    path = _coco(tmp_path, {"size": [60, 80], "counts": [2**62, 2**62]})
    report = import_coco(make_project(tmp_path), path)
    assert report.annotations_imported == 0
    assert "longer than the image" in str(report.errors[0])


@pytest.mark.parametrize("scale", [1e7, 2e8, 4.3e8, 1e300])
def test_polygon_far_outside_the_image_is_rejected_before_rasterising(tmp_path: Path, scale: float) -> None:
    """Finding: polygon coordinates of 1e7-2e8 made import allocate 1.8-24 GB; from 4.3e8 it died (SIGSEGV)."""
    path = _coco(tmp_path, [[0, 0, scale, 0, scale, scale]])
    report = import_coco(make_project(tmp_path), path)
    assert report.annotations_imported == 0
    assert "outside the 80x60 image" in str(report.errors[0])


def test_polygon_slightly_outside_the_image_is_still_imported(tmp_path: Path) -> None:
    path = _coco(tmp_path, [[-2, -2, 81.5, -1, 81, 61, 0, 60.5]])
    assert import_coco(make_project(tmp_path), path).annotations_imported == 1


def test_rle_claiming_a_huge_size_is_rejected_before_decoding(tmp_path: Path) -> None:
    """Finding: an RLE claiming 60000x60000 was decoded (7.2 GB) before its size was checked."""
    path = _coco(tmp_path, {"size": [60000, 60000], "counts": "0" * 10})
    report = import_coco(make_project(tmp_path), path)
    assert report.annotations_imported == 0
    assert "differs from the image size [60, 80]" in str(report.errors[0])


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (a few hundred bytes; decoding it would be huge)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    row = b"\x00" + b"\x00" * 3 * width
    data = zlib.compress(row * 4)  # truncated pixel data: the header is what matters
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def test_png_of_12000_by_12000_is_refused_before_decoding(tmp_path: Path) -> None:
    """Finding: a PNG whose header says 12000x12000 passed the pixel limit (3.1 GB in the app)."""
    path = _png_header_only(tmp_path / "big.png", 12000, 12000)
    for read in (load_image, read_image_info):
        with pytest.raises(ImageLoadError, match="limit 100000000 pixels") as info:
            read(path)
        assert str(path) in str(info.value)


def test_images_under_the_limit_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    path = tmp_path / "ok.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1200)
    assert load_image(path).rgb.shape == (30, 40, 3)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1199)
    with pytest.raises(ImageLoadError, match="limit 1199 pixels"):
        load_image(path)


def test_project_sized_limits_on_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}' + " " * 100)
    monkeypatch.setattr(limits, "MAX_COCO_BYTES", 50)
    with pytest.raises(CocoError, match="limit 50"):
        import_coco(make_project(tmp_path), path)
    with pytest.raises(LimitError, match="digits"):
        limits.parse_json(b"[" + b"9" * 5000 + b"]")
    with pytest.raises(LimitError, match="non-finite"):
        limits.parse_json(b"[NaN]")
    with pytest.raises(LimitError, match="out of range"):
        limits.parse_json(b"[1e999]")
