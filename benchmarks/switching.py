"""Switching images in the app (offscreen): disk-cached reopen, and moving on with / without prefetch.

``.venv/bin/python -m benchmarks.switching [--models tiny,vit_b] [--images N] [--device cpu]``

The real controller, segment worker, image loader and prefetch run in their threads (no window). Models as in
``benchmarks.cache``: ``tiny`` = reference tiny SAM, ``vit_b`` = ViT-B-sized SAM with random weights.

* (a) reopen from disk cache: session 1 encodes image 0 into a fresh disk cache and closes; session 2 (new
  controller, empty memory LRU) opens image 0 and clicks as soon as it appears. Time from ``image_loaded``
  (the image is on screen) to the first ``decoded`` answer. Target <= 0.3 s.
* (b) next image: open image 0, wait until encoded, then work on it for 1.2 encoder times (idle), press Next.
  Time from ``image_loaded`` of image 1 to ``encoded`` (the wait for the encoder; target: none) and to the
  first mask, with prefetch (depth 1) and without (depth 0). No disk cache here, so only prefetch can help.
* (c) click during prefetch: with prefetch running on image 1, a click on image 0; time to its answer (the
  wait is at most one encoder block for SAM).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from annotator.core.embedding_cache import EmbeddingCache
from annotator.ui.app import create_controller
from annotator.ui.controller import SessionController
from annotator.workers.segment_worker import DiskCacheStore
from benchmarks.cache import MODELS, SHARED
from sam_model.protocol import Segmenter

IMAGES = SHARED / "datasets" / "grabcut" / "images"
TIMEOUT_S = 600.0


def wait(condition: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> float:
    """Run the event loop until ``condition()``; returns the time it took. Raises ``TimeoutError``."""
    start = time.perf_counter()
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start()
    while not condition():
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("benchmark step timed out")
        loop.exec()
    timer.stop()
    return time.perf_counter() - start


def _folder(root: Path, count: int) -> Path:
    folder = root / "images"
    folder.mkdir()
    for path in sorted(IMAGES.glob("*.jpg"))[:count]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


class _Probe:
    """Timestamps of the controller's signals, taken in the GUI thread as they are handled."""

    def __init__(self, controller: SessionController) -> None:
        self.loaded: dict[str, float] = {}
        self.encoded: dict[str, float] = {}
        self.decoded: dict[str, float] = {}
        self.prefetched: set[str] = set()
        self.click_on_load = False
        self.controller = controller
        controller.image_loaded.connect(self._on_loaded)
        controller.client.prefetched.connect(lambda key, _outcome: self.prefetched.add(key))
        controller.client.encoded.connect(lambda key: self.encoded.setdefault(key, time.perf_counter()))
        controller.client.decoded.connect(
            lambda result: self.decoded.setdefault(result.image_id, time.perf_counter())
        )

    def _on_loaded(self, image) -> None:  # type: ignore[no-untyped-def]
        self.loaded[image.key] = time.perf_counter()
        if self.click_on_load:
            h, w = image.rgb.shape[:2]  # the first click, as soon as the loaded image is handled
            QTimer.singleShot(0, lambda: self.controller.add_point(w / 2, h / 2, 1))


def _open(controller: SessionController, probe: _Probe, key: str, *, step: bool = False) -> None:
    controller.step_image(+1) if step else controller.open_image(key)
    wait(lambda: key in probe.decoded if probe.click_on_load else key in probe.encoded)


def reopen_from_cache(engine: Segmenter, folder: Path, cache_dir: Path) -> float:
    """(a): seconds from image 0 appearing to its first mask, its embedding in the disk cache only."""
    for run in range(2):
        cache = DiskCacheStore(EmbeddingCache(cache_dir, 2**30))
        controller, _ = create_controller(folder, segmenter=engine, disk_cache=cache)
        probe = _Probe(controller)
        probe.click_on_load = True
        key = controller.image_keys[0]
        _open(controller, probe, key)
        controller.shutdown()
        if run == 1:
            assert cache.cache.stats().hits == 1, "the second session read the disk cache"
            return probe.decoded[key] - probe.loaded[key]
    raise AssertionError("unreachable")


def next_image(
    engine: Segmenter, folder: Path, depth: int, work_s: float
) -> tuple[float, float, float | None]:
    """(b) and (c): wait for the encoder on Next, time to first mask there, click latency during prefetch."""
    engine.reset_image()
    controller, _ = create_controller(folder, segmenter=engine, prefetch_depth=depth)
    probe = _Probe(controller)
    first, second = controller.image_keys[:2]
    _open(controller, probe, first)
    click_s = None
    worker = controller.client.worker
    if depth:
        wait(lambda: worker._task is not None or second in probe.prefetched)  # prefetch of image 1 running
        during = worker._task is not None
        h, w = controller.current_image.rgb.shape[:2]  # type: ignore[union-attr]
        t0 = time.perf_counter()
        controller.add_point(w / 3, h / 3, 1)
        wait(lambda: first in probe.decoded)
        click_s = probe.decoded[first] - t0 if during else None  # None: prefetch was over (tiny model)
    deadline = probe.encoded[first] + work_s
    wait(lambda: time.perf_counter() >= deadline)  # the user works on image 0
    probe.click_on_load = True
    _open(controller, probe, second, step=True)
    controller.shutdown()
    return probe.encoded[second] - probe.loaded[second], probe.decoded[second] - probe.loaded[second], click_s


def _encoder_seconds(engine: Segmenter, folder: Path) -> float:
    from annotator.core.images import load_image

    rgb = load_image(sorted(folder.iterdir())[0]).rgb
    engine.set_image(rgb)  # warm-up
    start = time.perf_counter()
    engine.set_image(rgb)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,vit_b")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QCoreApplication)
    rows = []
    for name in args.models.split(","):
        engine = MODELS[name](args.device)
        with tempfile.TemporaryDirectory() as tmp:
            folder = _folder(Path(tmp), args.images)
            encoder_s = _encoder_seconds(engine, folder)
            cached_s = reopen_from_cache(engine, folder, Path(tmp) / "cache")
            work_s = 1.2 * encoder_s + 0.2
            wait_on, mask_on, click_s = next_image(engine, folder, 1, work_s)
            wait_off, mask_off, _ = next_image(engine, folder, 0, work_s)
        rows.append((name, encoder_s, cached_s, wait_on, mask_on, wait_off, mask_off, click_s))
    head = (
        "| model | encoder (s) | (a) cached reopen: to first mask (s) "
        "| (b) Next, prefetch on: encoder wait / first mask (s) "
        "| Next, prefetch off: encoder wait / first mask (s) | (c) click during prefetch (s) |"
    )
    print(head)
    print("|" + "---|" * 6)
    for name, enc, cached, w_on, m_on, w_off, m_off, click in rows:
        print(
            f"| {name} | {enc:.3f} | {cached:.3f} | {w_on:.3f} / {m_on:.3f} | {w_off:.3f} / {m_off:.3f} "
            f"| {'n/a (prefetch already done)' if click is None else f'{click:.3f}'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
