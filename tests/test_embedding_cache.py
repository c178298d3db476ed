"""The on-disk embedding cache: pixel-content keys, model separation, LRU eviction, damaged entries."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.embedding_cache import EmbeddingCache, image_key
from sam_model.protocol import ImageEmbedding

REPO = Path(__file__).resolve().parents[1]


def _image(seed: int = 0, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def _embedding(model_id: str = "model-a", seed: int = 0, channels: int = 8) -> ImageEmbedding:
    rng = np.random.default_rng(seed)
    return ImageEmbedding(
        model_id=model_id,
        original_size=(48, 64),
        input_size=(768, 1024),
        arrays={
            "features": rng.standard_normal((1, channels, 16, 16)).astype(np.float32),
            "extra": np.arange(6, dtype=np.int64).reshape(2, 3),
        },
    )


def _same(a: ImageEmbedding, b: ImageEmbedding) -> bool:
    return (
        a.model_id == b.model_id
        and a.original_size == b.original_size
        and a.input_size == b.input_size
        and a.arrays.keys() == b.arrays.keys()
        and all(
            a.arrays[k].dtype == b.arrays[k].dtype and np.array_equal(a.arrays[k], b.arrays[k])
            for k in a.arrays
        )
    )


def test_image_key_depends_on_pixels_not_path(tmp_path: Path) -> None:
    rgb = _image()
    # The same pixels saved to two files in two formats, read back: same key.
    Image.fromarray(rgb).save(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb).save(tmp_path / "sub" / "copy.bmp")
    a = np.asarray(Image.open(tmp_path / "a.png").convert("RGB"))
    b = np.asarray(Image.open(tmp_path / "sub" / "copy.bmp").convert("RGB"))
    assert image_key(a) == image_key(b) == image_key(rgb)
    assert len(image_key(rgb)) == 64
    changed = rgb.copy()
    changed[10, 20, 1] ^= 1
    assert image_key(changed) != image_key(rgb)
    # Same bytes, another shape: another key. A non-contiguous view hashes its pixels, not its buffer.
    assert image_key(rgb.reshape(64, 48, 3)) != image_key(rgb)
    assert image_key(rgb[:, ::-1]) == image_key(np.ascontiguousarray(rgb[:, ::-1]))
    with pytest.raises(TypeError):
        image_key([[1, 2, 3]])  # type: ignore[arg-type]


def test_hit_by_pixel_content_and_miss_on_changed_pixel(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache", max_bytes=10**8)
    rgb = _image()
    emb = _embedding()
    assert cache.get(image_key(rgb), emb.model_id) is None
    assert cache.put(image_key(rgb), emb)
    got = cache.get(image_key(rgb.copy()), emb.model_id)
    assert got is not None and _same(got, emb)
    changed = rgb.copy()
    changed[0, 0, 0] = 255 - changed[0, 0, 0]
    assert cache.get(image_key(changed), emb.model_id) is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.writes, stats.entries) == (1, 2, 1, 1)
    assert stats.total_bytes > emb.nbytes()


def test_models_are_kept_apart(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, max_bytes=10**8)
    key = image_key(_image())
    cache.put(key, _embedding("vit_b:aaaa", seed=1))
    assert cache.get(key, "vit_b:bbbb") is None
    cache.put(key, _embedding("vit_b:bbbb", seed=2))
    a, b = cache.get(key, "vit_b:aaaa"), cache.get(key, "vit_b:bbbb")
    assert a is not None and b is not None
    assert _same(a, _embedding("vit_b:aaaa", seed=1)) and _same(b, _embedding("vit_b:bbbb", seed=2))
    assert cache.stats().entries == 2


def test_lru_eviction_order(tmp_path: Path) -> None:
    probe = EmbeddingCache(tmp_path / "probe", max_bytes=10**8)
    probe.put("k", _embedding())
    entry_bytes = probe.stats().total_bytes
    cache = EmbeddingCache(tmp_path / "lru", max_bytes=3 * entry_bytes + entry_bytes // 2)
    keys = [f"image-{i}" for i in range(5)]
    for key in keys[:3]:
        cache.put(key, _embedding(seed=1))
    assert cache.get(keys[0], "model-a") is not None  # 0 is now more recent than 1 and 2
    cache.put(keys[3], _embedding(seed=1))  # over the limit: the least recently used (1) goes
    assert [cache.contains(k, "model-a") for k in keys[:4]] == [True, False, True, True]
    cache.put(keys[4], _embedding(seed=1))  # then 2
    assert [cache.contains(k, "model-a") for k in keys] == [True, False, False, True, True]
    stats = cache.stats()
    assert stats.evictions == 2 and stats.entries == 3 and stats.total_bytes <= cache.max_bytes


def test_entry_larger_than_limit_is_not_stored(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, max_bytes=100)
    assert cache.put("k", _embedding()) is False
    assert cache.stats().entries == 0


def test_entry_that_fits_by_array_size_but_not_on_disk_is_not_stored(tmp_path: Path) -> None:
    embedding = _embedding()
    cache = EmbeddingCache(tmp_path, max_bytes=embedding.nbytes())  # the file adds metadata and zip headers
    assert cache.put("k", embedding) is False
    assert cache.stats().entries == 0 and cache.get("k", embedding.model_id) is None


def _damage_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"definitely not a zip file")


def _damage_flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    """Rewrite a valid entry as a well-formed npz whose content ``edit(meta, members)`` has changed."""
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    meta = json.loads(bytes(members["__meta__"]).decode())
    edit(meta, members)
    members["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **members)


def _damage_checksum(path: Path) -> None:
    def edit(meta, members):  # type: ignore[no-untyped-def]
        i = next(i for i, s in enumerate(meta["arrays"]) if s["name"] == "features")
        members[f"a{i}"] = members[f"a{i}"] + np.float32(1e-3)

    _rewrite(path, edit)


def _damage_shape(path: Path) -> None:
    def edit(meta, members):  # type: ignore[no-untyped-def]
        i = next(i for i, s in enumerate(meta["arrays"]) if s["name"] == "features")
        members[f"a{i}"] = members[f"a{i}"].reshape(1, -1, 8, 8)

    _rewrite(path, edit)


def _damage_foreign(path: Path) -> None:
    def edit(meta, members):  # type: ignore[no-untyped-def]
        meta["image_key"] = "another-image"

    _rewrite(path, edit)


@pytest.mark.parametrize(
    "damage",
    [_damage_truncate, _damage_garbage, _damage_flip_byte, _damage_checksum, _damage_shape, _damage_foreign],
)
def test_damaged_entry_is_deleted_and_recomputed(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    cache = EmbeddingCache(tmp_path, max_bytes=10**8)
    emb = _embedding()
    cache.put("img", emb)
    path = cache.entry_path("img", emb.model_id)
    damage(path)
    assert cache.get("img", emb.model_id) is None
    assert not path.exists()
    stats = cache.stats()
    assert stats.corrupt == 1 and stats.misses == 1 and stats.entries == 0
    cache.put("img", emb)  # recomputed by the caller
    got = cache.get("img", emb.model_id)
    assert got is not None and _same(got, emb)


def test_put_rejects_invalid_embeddings(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, max_bytes=10**8)
    with pytest.raises(TypeError):
        cache.put("k", {"features": np.zeros(3)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model_id"):
        cache.put("k", ImageEmbedding("", (1, 1), (1, 1), {}))
    with pytest.raises(TypeError, match="numeric"):
        cache.put("k", ImageEmbedding("m", (1, 1), (1, 1), {"x": np.array([object()])}))
    with pytest.raises(ValueError):
        EmbeddingCache(tmp_path, max_bytes=-1)


def test_clear_and_discard(tmp_path: Path) -> None:
    (tmp_path / "unrelated.txt").write_text("keep me")
    cache = EmbeddingCache(tmp_path, max_bytes=10**8)
    for i in range(3):
        cache.put(f"k{i}", _embedding())
    assert cache.discard("k0", "model-a") and not cache.discard("k0", "model-a")
    assert cache.clear() == 2
    assert cache.stats().entries == 0 and (tmp_path / "unrelated.txt").read_text() == "keep me"


def test_two_processes_writing_the_same_key(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.path.insert(0, {str(REPO)!r})
        from annotator.core.embedding_cache import EmbeddingCache
        from sam_model.protocol import ImageEmbedding
        rng = np.random.default_rng(7)
        emb = ImageEmbedding("m", (48, 64), (768, 1024),
                             {{"features": rng.standard_normal((1, 64, 32, 32)).astype(np.float32)}})
        cache = EmbeddingCache({str(tmp_path)!r}, 10**8)
        for _ in range(25):
            cache.put("same", emb)
            got = cache.get("same", "m")
            if got is None or not np.array_equal(got.arrays["features"], emb.arrays["features"]):
                sys.exit("bad read")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE) for _ in range(2)]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    cache = EmbeddingCache(tmp_path, max_bytes=10**8)
    assert cache.get("same", "m") is not None
    stats = cache.stats()
    assert stats.entries == 1 and stats.corrupt == 0
    assert not list(tmp_path.rglob("*.tmp"))


def _sam2_like(model_id: str, seed: int = 0) -> ImageEmbedding:
    """A SAM 2-shaped embedding (tiny): three arrays at three resolutions, as ``Sam2Predictor`` stores them."""
    rng = np.random.default_rng(seed)
    arrays = {
        "image_embed": rng.standard_normal((1, 16, 4, 4)).astype(np.float32),
        "high_res_feats_0": rng.standard_normal((1, 4, 16, 16)).astype(np.float32),
        "high_res_feats_1": rng.standard_normal((1, 8, 8, 8)).astype(np.float32),
    }
    return ImageEmbedding(model_id, (48, 64), (1024, 1024), arrays)


def test_every_array_of_a_multi_array_embedding_survives_and_families_stay_apart(tmp_path: Path) -> None:
    from annotator.workers.embedding_lru import EmbeddingLru

    cache = EmbeddingCache(tmp_path / "cache", 10 * 2**20)
    key = image_key(_image())
    sam2 = _sam2_like("sam2.1_hiera_tiny-0123456789abcdef")
    sam1 = _embedding("vit_b-fedcba9876543210")
    assert cache.put(key, sam2) and cache.put(key, sam1)

    restored = cache.get(key, sam2.model_id)
    assert restored is not None and set(restored.arrays) == set(sam2.arrays)
    for name, array in sam2.arrays.items():
        np.testing.assert_array_equal(restored.arrays[name], array)
        assert restored.arrays[name].dtype == array.dtype
    assert restored.input_size == (1024, 1024) and restored.original_size == (48, 64)
    other = cache.get(key, sam1.model_id)
    assert other is not None and set(other.arrays) == set(sam1.arrays), "same pixels, another family"
    assert cache.get(key, "sam2_hiera_tiny-0123456789abcdef") is None

    lru = EmbeddingLru(2)
    lru.put("a.png", sam2)
    assert lru.get("a.png", sam2.model_id) is sam2
    assert lru.get("a.png", sam1.model_id) is None, "the memory cache tells families apart by model_id"


def test_a_multi_array_entry_missing_one_array_is_a_damaged_miss(tmp_path: Path) -> None:
    import zipfile

    cache = EmbeddingCache(tmp_path / "cache", 10 * 2**20)
    key = image_key(_image(1))
    embedding = _sam2_like("sam2-x")
    cache.put(key, embedding)
    path = cache.entry_path(key, embedding.model_id)
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            if name != "a2.npy":
                dst.writestr(name, data)
    assert cache.get(key, embedding.model_id) is None
    assert cache.stats().corrupt == 1 and not path.exists()
