"""``--cluster`` over an object-storage URL on a local Ray instance (2 CPUs): a ``file://`` URL gives the same
proposals, embeddings and masks as the folder, skips a corrupt object by name and resumes; with ``moto`` a
local S3 server (127.0.0.1) proves the ``s3://`` path end to end."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cluster_helpers import auto_single_and_cluster, make_images

from annotator.cli import main

pytestmark = pytest.mark.cluster


def _with_subfolder(folder: Path) -> list[str]:
    """3 images (64 x 48) at the top, 1 (56 x 40) in ``sub/``, a corrupt one and a hidden one; the names
    ``-r`` lists."""
    make_images(folder, 3)
    make_images(folder / "sub", 1, size=(40, 56))
    (folder / "broken.png").write_bytes(b"\x89PNG broken")
    (folder / ".hidden.png").write_bytes(b"never listed")
    return ["broken.png", "img0.png", "img1.png", "img2.png", "sub/img0.png"]


def test_tiny_sam_from_a_file_url_is_the_folder_output(
    ray_local: object, sam_reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Identical RLE: ``auto`` over the folder in one process, and over its ``file://`` URL on Ray."""
    ckpt = sam_reference / "sam_tiny_a.pth"
    single, cluster, err = auto_single_and_cluster(tmp_path, ckpt, lambda f: f.as_uri(), capsys)
    assert "broken.jpg: skipped (" in err and "1 failed" in err
    assert json.loads(single.read_text())["annotations"], "the test needs some proposals to compare"
    assert cluster.read_bytes() == single.read_bytes()


def test_nested_prefix_resumes_and_merges_like_the_folder(
    ray_local: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    names = _with_subfolder(folder)
    url = folder.as_uri() + "/"
    args = ["--min-area", "20", "-r"]
    single, cluster = tmp_path / "single.json", tmp_path / "cluster.json"
    assert main(["auto", str(folder), "--out", str(single), *args]) == 1
    capsys.readouterr()
    assert main(["auto", url, "--out", str(cluster), *args, "--cluster", "--workers", "2"]) == 1
    assert "broken.png: skipped (" in capsys.readouterr().err
    assert cluster.read_bytes() == single.read_bytes()
    coco = json.loads(cluster.read_text())
    assert [image["file_name"] for image in coco["images"]] == names[1:]  # relative to the prefix
    cluster.unlink()
    assert main(["auto", url, "--out", str(cluster), *args, "--cluster", "--workers", "2"]) == 1
    assert "5 images already done" in capsys.readouterr().err  # the same shards: nothing done again
    assert cluster.read_bytes() == single.read_bytes()


def test_encode_from_a_file_url_stores_the_folder_embeddings(
    ray_local: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from annotator.core.embedding_cache import EmbeddingCache, image_key
    from annotator.core.images import load_image
    from sam_model.classic.segmenter import ClassicSegmenter

    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = tmp_path / "images"
    names = _with_subfolder(folder)
    by_folder, by_url = tmp_path / "cache-folder", tmp_path / "cache-url"
    common = ["--checkpoint", "classic", "-r"]
    assert main(["encode", str(folder), *common, "--cache-dir", str(by_folder)]) == 1
    capsys.readouterr()
    assert main(["encode", folder.as_uri(), *common, "--cache-dir", str(by_url), "--cluster"]) == 1
    err = capsys.readouterr().err
    assert "broken.png: skipped (" in err and "encoded 4" in err and "failed 1" in err
    model_id = ClassicSegmenter().model_id
    caches = [EmbeddingCache(path, max_bytes=10**9) for path in (by_folder, by_url)]
    for name in names[1:]:
        key = image_key(load_image(folder / name).rgb)
        expected, got = (cache.get(key, model_id) for cache in caches)
        assert expected is not None and got is not None
        assert expected.arrays.keys() == got.arrays.keys()
        assert all(np.array_equal(expected.arrays[k], got.arrays[k]) for k in expected.arrays)


def test_boxes_to_masks_from_a_file_url_is_the_folder_output(
    ray_local: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = tmp_path / "images"
    _with_subfolder(folder)
    files = [("img0.png", 64, 48), ("sub/img0.png", 56, 40), ("broken.png", 64, 48)]
    data = {
        "images": [
            {"id": i + 1, "file_name": n, "width": w, "height": h} for i, (n, w, h) in enumerate(files)
        ],
        "categories": [{"id": 1, "name": "disc"}],
        "annotations": [
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [2, 14, 24, 22]} for i in range(3)
        ],
    }
    (tmp_path / "boxes.json").write_text(json.dumps(data))
    args = ["--in", str(tmp_path / "boxes.json"), "--checkpoint", "classic", "--no-cache"]
    single, cluster = tmp_path / "single.json", tmp_path / "cluster.json"
    assert main(["boxes-to-masks", str(folder), *args, "--out", str(single)]) == 1
    capsys.readouterr()
    assert main(["boxes-to-masks", folder.as_uri(), *args, "--out", str(cluster), "--cluster"]) == 1
    assert "broken.png: skipped (" in capsys.readouterr().err
    assert len(json.loads(single.read_text())["annotations"]) == 2
    assert cluster.read_bytes() == single.read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def s3_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for this test; yields its ``host:port``."""
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed (pip install 'moto[server]'; dev extra)"
    )
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def test_s3_url_on_a_local_moto_server(
    ray_local: object, s3_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Objects put in a bucket give the folder's proposals; a missing bucket and a corrupt object are named.
    The key travels in the URL (the actors of the running Ray instance do not see this test's environment)."""
    boto3 = pytest.importorskip("boto3")
    folder = tmp_path / "images"
    names = _with_subfolder(folder)
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_server}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="images")
    for path in folder.rglob("*.png"):
        client.put_object(
            Bucket="images", Key=f"set/{path.relative_to(folder).as_posix()}", Body=path.read_bytes()
        )
    query = f"?endpoint_override={s3_server}&scheme=http&region=us-east-1"
    url = f"s3://testing:testing@images/set{query}"
    args = ["--min-area", "20", "-r"]
    single, cluster = tmp_path / "single.json", tmp_path / "cluster.json"
    assert main(["auto", str(folder), "--out", str(single), *args]) == 1
    capsys.readouterr()
    assert main(["auto", url, "--out", str(cluster), *args, "--cluster", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "broken.png: skipped (" in err and "testing:testing" not in err
    assert cluster.read_bytes() == single.read_bytes()
    assert [i["file_name"] for i in json.loads(cluster.read_text())["images"]] == names[1:]
    assert main(["auto", f"s3://testing:testing@missing-bucket/set{query}", "--out", str(cluster)]) == 2
    err = capsys.readouterr().err
    assert "s3://***@missing-bucket/set" in err and "not found (no such bucket, folder or prefix)" in err
