"""Image sources without Ray: listing a ``pyarrow.fs`` tree (a ``file://`` URL, a ``SubTreeFileSystem``) by the
folder rules, decoding an object exactly as the file, and the one-line errors of URLs the commands cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import make_images
from PIL import Image

from annotator.cli import main
from annotator.cluster import sources
from annotator.cluster.sources import (
    ObjectLoadError,
    SourceError,
    check_source,
    image_label,
    is_url,
    list_source,
    list_tree,
    load_source_image,
    local_folder,
    read_tree_image,
)
from annotator.core.errors import ImageLoadError
from annotator.core.images import list_images, load_image

pafs = pytest.importorskip("pyarrow.fs")


def _tree(root: Path) -> None:
    """Images at two depths, upper-case and mixed extensions, numbers to sort naturally, hidden entries and
    files that are not images."""
    for rel in ["img10.png", "img2.PNG", "b.JPeG", "notes.txt", ".hidden.png", "sub/img1.webp",
                "sub/deeper/z.tif", ".cache/x.png", "sub/.secret/y.png", "sub/readme.md"]:  # fmt: skip
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_listing_follows_the_folder_rules(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    url = (tmp_path / "data").as_uri()
    assert is_url(url) and not is_url(str(tmp_path)) and not is_url(tmp_path / "data")
    assert list_source(url) == ["b.JPeG", "img2.PNG", "img10.png"] == list_images(tmp_path / "data")
    nested = ["b.JPeG", "img2.PNG", "img10.png", "sub/deeper/z.tif", "sub/img1.webp"]
    assert list_source(url, recursive=True) == nested == list_images(tmp_path / "data", recursive=True)
    assert list_source(url + "/sub", recursive=True) == ["deeper/z.tif", "img1.webp"]
    assert list_source(url + "/") == list_source(url)  # a trailing slash names the same prefix


def test_listing_of_a_sub_tree_file_system(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    fs = pafs.SubTreeFileSystem(str(tmp_path / "data"), pafs.LocalFileSystem())
    assert list_tree(fs, "", "tree") == ["b.JPeG", "img2.PNG", "img10.png"]
    assert list_tree(fs, "sub", "tree", recursive=True) == ["deeper/z.tif", "img1.webp"]
    assert list_tree(fs, "sub/", "tree") == ["img1.webp"]
    with pytest.raises(SourceError, match=r"^tree/none: not found"):
        list_tree(fs, "none", "tree/none")


def _variants(folder: Path) -> list[str]:
    """Files whose decoding converts something: EXIF orientation, alpha, 16-bit, palette, grayscale."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif, quality=95)
    rgba = np.dstack([rgb, rng.integers(0, 255, (20, 30), dtype=np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 65535, (20, 30), dtype=np.uint16)).save(folder / "deep.png")
    Image.fromarray(rgb).convert("P").save(folder / "palette.bmp")
    Image.fromarray(rgb[..., 0]).save(folder / "gray.tiff")
    return sorted(list_images(folder))


def test_an_object_decodes_exactly_as_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "variants"
    names = _variants(folder)
    url = folder.as_uri()
    assert list_source(url) == names
    for name in names:
        from_file, from_url = load_image(folder / name), load_source_image(url, name)
        assert from_url.rgb.dtype == np.uint8 and np.array_equal(from_url.rgb, from_file.rgb), name
        assert (from_url.exif_orientation, from_url.notes) == (from_file.exif_orientation, from_file.notes)
    assert load_source_image(url, "rotated.jpg").rgb.shape == (30, 20, 3)  # the orientation was applied


def test_unreadable_and_corrupt_objects_name_their_url(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    make_images(folder, 1)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    url = folder.as_uri()
    with pytest.raises(ObjectLoadError) as corrupt:
        load_source_image(url, "broken.jpg")
    with pytest.raises(ImageLoadError) as as_file:
        load_image(folder / "broken.jpg")
    assert corrupt.value.reason == as_file.value.reason  # the file's reason, named by its URL
    assert str(corrupt.value) == f"{url}/broken.jpg: {as_file.value.reason}"
    assert isinstance(corrupt.value, ImageLoadError) and corrupt.value.url == f"{url}/broken.jpg"
    with pytest.raises(ObjectLoadError, match=f"^{url}/gone.png: object not found$"):
        load_source_image(url, "gone.png")
    fs = pafs.SubTreeFileSystem(str(folder), pafs.LocalFileSystem())
    assert np.array_equal(read_tree_image(fs, "", "img0.png", "x").rgb, load_image(folder / "img0.png").rgb)


def test_sources_that_cannot_be_used_give_one_line(tmp_path: Path) -> None:
    make_images(tmp_path / "imgs", 1)
    cases = {
        "nosuch://bucket/prefix": "nosuch://bucket/prefix: not a URL this installation can read (",
        (tmp_path / "missing").as_uri(): f"{(tmp_path / 'missing').as_uri()}: not found (no such bucket",
        (tmp_path / "imgs" / "img0.png").as_uri(): "img0.png: is one object, not a folder or prefix",
    }
    for url, message in cases.items():
        with pytest.raises(SourceError) as info:
            list_source(url)
        assert message in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(SourceError):
            check_source(url)
    with pytest.raises(ImageLoadError, match="not a folder"):
        check_source(tmp_path / "missing")


def test_without_pyarrow_a_url_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.fs", None)  # import pyarrow.fs fails
    url = tmp_path.as_uri() + "/never-cached"
    with pytest.raises(SourceError, match=r"needs pyarrow: pip install 'sam-annotator\[cluster\]'"):
        list_source(url)
    assert list_source(tmp_path) == []  # a folder needs no pyarrow


def test_labels_and_local_folders(tmp_path: Path) -> None:
    url = "s3://bucket/set/?endpoint_override=127.0.0.1:9000&scheme=http"
    assert image_label(url, "a/b.png") == "s3://bucket/set/a/b.png"
    assert image_label(tmp_path, "a/b.png") == str(tmp_path / "a" / "b.png")
    assert local_folder(tmp_path.as_uri()) == tmp_path and local_folder(tmp_path) == tmp_path
    assert local_folder("gs://bucket/prefix") is None
    assert sources.source_location(url) == url


def test_single_process_commands_read_a_file_url_as_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``auto`` without ``--cluster``: the same file from the URL as from the folder, the corrupt object
    reported by its URL; ``--into-project`` works on a ``file://`` URL (it is the folder)."""
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = tmp_path / "images"
    make_images(folder, 2)
    (folder / "broken.jpg").write_bytes(b"not an image")
    url = folder.as_uri()
    by_folder, by_url = tmp_path / "folder.json", tmp_path / "url.json"
    assert main(["auto", str(folder), "--out", str(by_folder), "--min-area", "20"]) == 1
    capsys.readouterr()
    assert main(["auto", url, "--out", str(by_url), "--min-area", "20", "--into-project"]) == 1
    err = capsys.readouterr().err
    assert f"broken.jpg: skipped ({url}/broken.jpg: " in err
    assert "review queue: " in err and json.loads(by_url.read_text())["annotations"]
    assert by_url.read_bytes() == by_folder.read_bytes()


@pytest.mark.parametrize("command", ["auto", "encode", "boxes-to-masks"])
def test_commands_refuse_unusable_urls_in_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    out = ["--out", str(tmp_path / "o.json")] if command != "encode" else []
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"images": [], "categories": [], "annotations": []}))
    extra = ["--in", str(boxes)] if command == "boxes-to-masks" else []
    for url, reason in [
        ("nosuch://b/p", "nosuch://b/p: not a URL this installation can read"),
        ((tmp_path / "missing").as_uri(), "missing: not found (no such bucket, folder or prefix)"),
    ]:
        assert main([command, url, *out, *extra, "--cluster"]) == 2
        err = capsys.readouterr().err
        assert reason in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_remote_url_has_no_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before anything is read (no network needed): the project is a local folder."""
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    out = ["--out", str(tmp_path / "o.json")]
    assert main(["auto", "s3://bucket/set", *out, "--into-project", "--cluster"]) == 2
    err = capsys.readouterr().err
    assert "--into-project: s3://bucket/set is not on this machine, so it has no project" in err
    assert main(["boxes-to-masks", "gs://bucket/set", *out]) == 2  # the boxes would be the project's
    err = capsys.readouterr().err
    assert "boxes-to-masks: gs://bucket/set is not on this machine" in err and "--in FILE" in err
