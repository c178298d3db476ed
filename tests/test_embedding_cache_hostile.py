"""Issue 15, item 3: a damaged cache entry of any kind (directory, zero bytes, zip bomb, wrong shape) is skipped
and replaced, never fatal, and never decompressed beyond the expected size."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from annotator.core.embedding_cache import EmbeddingCache
from tests.test_embedding_cache import _embedding, _same


def _dir_entry(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_bytes(b"x")


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _zip_bomb(path: Path) -> None:
    """A valid zip whose member inflates to 200 MB (a few hundred KB on disk): must never be inflated."""
    path.unlink()
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("a0.npy", "w", force_zip64=True) as member,
    ):
        for _ in range(200):
            member.write(chunk)


def _wrong_shape(path: Path) -> None:
    other = EmbeddingCache(path.parent / "other", max_bytes=1 << 30)
    embedding = _embedding(channels=3)
    other.put("k", embedding)
    path.write_bytes(other.entry_path("k", embedding.model_id).read_bytes())


@pytest.mark.parametrize("damage", [_dir_entry, _zero_bytes, _zip_bomb, _wrong_shape])
def test_damaged_entry_is_a_miss_and_is_replaced(tmp_path: Path, damage, monkeypatch) -> None:
    cache = EmbeddingCache(tmp_path / "cache", max_bytes=1 << 30)
    embedding = _embedding()
    cache.put("key", embedding)
    path = cache.entry_path("key", embedding.model_id)
    damage(path)
    real_load = np.load
    loads: list[Path] = []
    monkeypatch.setattr(np, "load", lambda p, *a, **k: (loads.append(Path(p)), real_load(p, *a, **k))[1])
    assert cache.get("key", embedding.model_id) is None  # skipped, not fatal
    if damage is _zip_bomb:
        assert not loads, "a member larger than its entry must be refused before it is inflated"
    assert not path.exists()
    assert cache.put("key", embedding)  # replaced
    again = cache.get("key", embedding.model_id)
    assert again is not None and _same(again, embedding)


def test_put_over_a_directory_entry_replaces_it(tmp_path: Path) -> None:
    """Finding: a cache entry that is a directory aborted the whole `encode` run."""
    cache = EmbeddingCache(tmp_path / "cache", max_bytes=1 << 30)
    embedding = _embedding()
    path = cache.entry_path("key", embedding.model_id)
    path.mkdir(parents=True)
    assert cache.put("key", embedding)
    assert path.is_file()
