from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.errors import ImageLoadError
from annotator.core.images import list_images, load_image, natural_sort_key, read_image_info


def _gradient(h: int, w: int) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    a[:, :, 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    return a


def test_list_images_natural_case_insensitive(tmp_path: Path) -> None:
    for name in ["img10.JPG", "img2.png", "img1.webp", "a.TIFF", "b.bmp", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".sam-annotator").mkdir()
    (tmp_path / ".sam-annotator" / "x.png").write_bytes(b"x")
    assert list_images(tmp_path) == ["a.TIFF", "b.bmp", "img1.webp", "img2.png", "img10.JPG"]
    assert natural_sort_key("img2") < natural_sort_key("img10")
    with pytest.raises(ImageLoadError):
        list_images(tmp_path / "missing")


def test_exif_orientation_applied_and_reported(tmp_path: Path) -> None:
    raw = np.zeros((40, 100, 3), np.uint8)
    raw[:10, :20] = (255, 0, 0)  # red block at the raw top-left
    image = Image.fromarray(raw)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = tmp_path / "rot.jpg"
    image.save(path, exif=exif, quality=100)
    info = read_image_info(path)
    assert (info.width, info.height) == (40, 100) and info.has_orientation and info.exif_orientation == 6
    loaded = load_image(path)
    assert loaded.rgb.shape == (100, 40, 3) and loaded.has_orientation
    # raw top-left moves to the displayed top-right for orientation 6
    assert loaded.rgb[2, 37, 0] > 200 and loaded.rgb[2, 2, 0] < 50
    plain = tmp_path / "plain.jpg"
    image.save(plain)
    assert not load_image(plain).has_orientation and read_image_info(plain).width == 100


@pytest.mark.parametrize("kind", ["L", "P", "RGBA", "I16_png", "I16_tif", "CMYK", "LA"])
def test_modes_become_rgb_uint8(tmp_path: Path, kind: str) -> None:
    rgb = _gradient(30, 50)
    if kind == "L":
        image, path = Image.fromarray(rgb[:, :, 0]), tmp_path / "g.png"
    elif kind == "P":
        image, path = Image.fromarray(rgb).convert("P"), tmp_path / "p.png"
    elif kind == "RGBA":
        rgba = np.dstack([rgb, np.zeros((30, 50), np.uint8)])
        rgba[:, 25:, 3] = 255
        image, path = Image.fromarray(rgba), tmp_path / "a.png"
    elif kind == "LA":
        image, path = Image.fromarray(rgb[:, :, 0]).convert("LA"), tmp_path / "la.png"
    elif kind == "CMYK":
        image, path = Image.fromarray(rgb).convert("CMYK"), tmp_path / "c.tif"
    else:
        data = (np.arange(30 * 50).reshape(30, 50) * 40).astype(np.uint16)
        data[0, 0] = 65535
        image, path = Image.fromarray(data), tmp_path / ("d.png" if kind == "I16_png" else "d.tif")
    image.save(path)
    loaded = load_image(path)
    assert loaded.rgb.shape == (30, 50, 3) and loaded.rgb.dtype == np.uint8
    if kind == "RGBA":
        assert (loaded.rgb[:, :25] == 255).all()  # transparent -> white
        assert np.array_equal(loaded.rgb[:, 25:], rgb[:, 25:])
    if kind.startswith("I16"):
        assert loaded.rgb[0, 0, 0] == 255 and loaded.rgb[0, 1, 0] == round(40 / 257)
        assert loaded.rgb[29, 49, 0] == round(1499 * 40 / 257)
    if kind == "CMYK":
        assert np.abs(loaded.rgb.astype(int) - rgb).max() <= 2


def test_non_ascii_path(tmp_path: Path) -> None:
    folder = tmp_path / "фото 写真"
    folder.mkdir()
    path = folder / "ünïcødé 画像.png"
    Image.fromarray(_gradient(12, 16)).save(path)
    assert list_images(folder) == ["ünïcødé 画像.png"]
    assert np.array_equal(load_image(path).rgb, _gradient(12, 16))


def test_truncated_and_garbage_raise(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.fromarray((np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)).save(good)
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ImageLoadError) as info:
        load_image(truncated)
    assert "trunc.jpg" in str(info.value) and "truncated" in str(info.value)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageLoadError, match=r"garbage\.png"):
        load_image(garbage)
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.png")
