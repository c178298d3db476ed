"""``main.py encode FOLDER``: fills the embedding cache, skips cached images, reports corrupt ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main as cli_main
from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.core.images import load_image


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))  # never the user's real settings
    rng = np.random.default_rng(3)
    root = tmp_path / "images"
    root.mkdir()
    yy, xx = np.mgrid[0:60, 0:80]
    disc = ((yy - 30) ** 2 + (xx - 40) ** 2 < 15**2)[..., None]
    base = np.where(disc, np.uint8(200), np.uint8(40)) + rng.integers(0, 20, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(base).save(root / "a.png")
    Image.fromarray(base[::-1].copy()).save(root / "b.bmp")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return root


def _keys(folder: Path, names: list[str]) -> list[str]:
    return [image_key(load_image(folder / n).rgb) for n in names]


def test_encode_classic_then_skip(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sam_model.classic.segmenter import ClassicSegmenter

    cache_dir = tmp_path / "cache"
    args = ["encode", str(folder), "--checkpoint", "classic", "--cache-dir", str(cache_dir)]
    assert cli_main(args) == 1  # one image could not be read
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "encoded 2" in err and "already cached 0" in err and "failed 1" in err
    assert "3/3" in err  # the progress bar reached the end

    engine = ClassicSegmenter()
    cache = EmbeddingCache(cache_dir, max_bytes=10**9)
    entries = [cache.get(k, engine.model_id) for k in _keys(folder, ["a.png", "b.bmp"])]
    assert all(e is not None for e in entries)
    for emb in entries:
        assert all(a.dtype == np.float32 for a in emb.arrays.values() if np.issubdtype(a.dtype, np.floating))

    # The cached state answers a click exactly like a fresh encode.
    rgb = load_image(folder / "a.png").rgb
    point, label = np.array([[40.0, 30.0]]), np.array([1])
    engine.set_image(rgb)
    fresh = engine.predict(point, label, multimask_output=False)[0]
    restored_engine = ClassicSegmenter()
    restored_engine.set_embedding(entries[0])
    assert np.array_equal(restored_engine.predict(point, label, multimask_output=False)[0], fresh)

    files_before = sorted(p.name for p in cache_dir.rglob("*.npz"))
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert "encoded 0" in err and "already cached 2" in err and "failed 1" in err
    assert sorted(p.name for p in cache_dir.rglob("*.npz")) == files_before

    (folder / "broken.jpg").unlink()
    assert cli_main(args) == 0


def test_encode_tiny_sam_checkpoint(
    folder: Path, tmp_path: Path, sam_reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sam_model.engines")
    from sam_model.engines import create_segmenter

    (folder / "broken.jpg").unlink()
    (folder / "b.bmp").unlink()  # one image keeps the test fast: each encode runs the ViT at 1024 x 1024
    ckpt = sam_reference / "sam_tiny_a.pth"
    cache_dir = tmp_path / "cache"
    args = [
        "encode",
        str(folder),
        "--checkpoint",
        str(ckpt),
        "--cache-dir",
        str(cache_dir),
        "--device",
        "cpu",
    ]
    assert cli_main(args) == 0
    assert "encoded 1" in capsys.readouterr().err
    assert cli_main(args) == 0
    assert "encoded 0, already cached 1" in capsys.readouterr().err

    predictor = create_segmenter(checkpoint=ckpt, device="cpu")
    cache = EmbeddingCache(cache_dir, max_bytes=10**9)
    key = _keys(folder, ["a.png"])[0]
    emb = cache.get(key, predictor.model_id)
    assert emb is not None and emb.original_size == (60, 80)
    assert emb.arrays["features"].shape == (1, 256, 64, 64) and emb.arrays["features"].dtype == np.float32
    from sam_model.classic.segmenter import ClassicSegmenter

    assert cache.get(key, ClassicSegmenter().model_id) is None  # another model: its own entries
    predictor.set_embedding(emb)
    masks_cached, scores_cached, _ = predictor.predict(np.array([[40.0, 30.0]]), np.array([1]))
    predictor.set_image(load_image(folder / "a.png").rgb)
    masks_fresh, scores_fresh, _ = predictor.predict(np.array([[40.0, 30.0]]), np.array([1]))
    assert np.array_equal(masks_cached, masks_fresh) and np.allclose(scores_cached, scores_fresh, atol=1e-5)


def test_encode_reports_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    assert cli_main(["encode", str(tmp_path / "nope"), "--checkpoint", "classic"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_negative_max_bytes_is_a_usage_error(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["encode", str(folder), "--checkpoint", "classic", "--cache-dir", str(tmp_path / "c")]
    assert cli_main([*args, "--max-bytes", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--max-bytes must be >= 0" in err and "Traceback" not in err
