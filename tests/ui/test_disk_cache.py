"""The disk embedding cache in the app: a reopened image needs no encoding; a damaged entry is recomputed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotator.core.embedding_cache import EmbeddingCache
from annotator.workers.segment_worker import DiskCacheStore
from tests.ui.test_prefetch import CountingSegmenter, Sessions, make_folder, open_and_wait


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path)


@pytest.fixture
def session(qtbot) -> Iterator:
    sessions = Sessions()
    yield sessions.start
    sessions.close_all()


def first_mask(qtbot, controller) -> None:
    with qtbot.waitSignal(controller.client.decoded, timeout=10000):
        controller.add_point(12, 12, 1)
    assert controller.live_mask() is not None and controller.live_mask()[12, 12]


def run_session(qtbot, session, folder: Path, cache: EmbeddingCache) -> CountingSegmenter:
    """Open img0, show its first mask, close the session; returns the engine used."""
    fake = CountingSegmenter()
    controller = session(folder, fake, disk_cache=DiskCacheStore(cache))
    open_and_wait(qtbot, controller, "img0.png")
    first_mask(qtbot, controller)
    controller.shutdown()
    return fake


def test_reopened_image_is_not_encoded_again(qtbot, session, folder: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = run_session(qtbot, session, folder, EmbeddingCache(cache_dir, 10 * 2**20))
    assert first.encodes() == [10]

    cache = EmbeddingCache(cache_dir, 10 * 2**20)  # a new app start: new engine, new cache object
    second = run_session(qtbot, session, folder, cache)
    assert second.encodes() == [], "the embedding came from the disk cache"
    assert ("decode", 10) in second.events
    assert cache.stats().hits == 1


def test_damaged_entry_is_recomputed(qtbot, session, folder: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    run_session(qtbot, session, folder, EmbeddingCache(cache_dir, 10 * 2**20))
    (entry,) = (cache_dir / "v1").rglob("*.npz")
    entry.write_bytes(entry.read_bytes()[:-40])  # truncated, e.g. by a crash or a full disk

    cache = EmbeddingCache(cache_dir, 10 * 2**20)
    second = run_session(qtbot, session, folder, cache)
    assert second.encodes() == [10], "the damaged entry was not used"
    assert cache.stats().corrupt == 1
    assert cache.get(*_only_key(cache_dir)) is not None, "the recomputed embedding was stored again"


def test_prefetched_images_land_in_the_disk_cache(qtbot, session, folder: Path, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache", 10 * 2**20)
    fake = CountingSegmenter()
    controller = session(folder, fake, disk_cache=DiskCacheStore(cache), prefetch_depth=2)
    done: list[str] = []
    controller.client.prefetched.connect(lambda key, _outcome: done.append(key))
    open_and_wait(qtbot, controller, "img0.png")
    qtbot.waitUntil(lambda: len(done) == 2, timeout=10000)
    assert cache.stats().entries == 3


def _only_key(cache_dir: Path) -> tuple[str, str]:
    import numpy as np
    from PIL import Image

    from annotator.core.embedding_cache import image_key

    rgb = np.asarray(Image.open(cache_dir.parent / "images" / "img0.png").convert("RGB"))
    return image_key(rgb), CountingSegmenter.model_id
