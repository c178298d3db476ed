"""UI responsiveness: click-to-painted-mask latency (2 MP) and the longest GUI stall opening a 24 MP image.

Run offscreen: ``.venv/bin/python -m benchmarks.ui``. A fake segmenter (a disc around the click) isolates the UI
cost: the reported click latency is the time from the mouse event to the painted mask *minus* the engine's
decode time (measured in the worker).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PIL import Image
from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from annotator.ui.app import create_controller
from annotator.ui.main_window import MainWindow
from sam_model.errors import NoImageError
from sam_model.low_res import LowResFrame
from sam_model.protocol import ImageEmbedding, Prediction


class DiscEngine:
    """Minimal segmenter: three discs around the newest positive point (decode cost ~ image size)."""

    model_id = "bench-disc"
    low_res_frame = LowResFrame.LONGEST_SIDE

    def __init__(self) -> None:
        self._size: tuple[int, int] | None = None

    @property
    def is_image_set(self) -> bool:
        return self._size is not None

    def set_image(self, image: np.ndarray) -> None:
        self._size = image.shape[:2]

    def reset_image(self) -> None:
        self._size = None

    def get_embedding(self) -> ImageEmbedding:
        if self._size is None:
            raise NoImageError("no image")
        return ImageEmbedding(self.model_id, self._size, self._size, {})

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        self._size = embedding.original_size

    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
    ) -> Prediction:
        h, w = self._size or (0, 0)
        cx, cy = point_coords[-1]
        yy = (np.arange(h, dtype=np.float32)[:, None] - cy) ** 2
        xx = (np.arange(w, dtype=np.float32)[None, :] - cx) ** 2
        d = yy + xx
        radii = (60, 120, 240)[: 3 if multimask_output else 1]
        masks = np.stack([d <= r * r for r in radii])
        return (
            masks,
            np.array([0.8, 0.9, 0.7][: len(radii)], np.float32),
            np.zeros((len(radii), 256, 256), np.float32),
        )


def _wait(app: QApplication, condition, timeout_s: float = 60.0) -> None:
    end = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError("benchmark step timed out")
        app.processEvents()
        time.sleep(0.0005)


def click_latency(app: QApplication, folder: Path, clicks: int = 15) -> list[float]:
    controller, _ = create_controller(folder, segmenter=DiscEngine())
    window = MainWindow(controller)
    window.resize(1400, 900)
    window.show()
    try:
        controller.step_image(+1)
        _wait(app, lambda: controller.client.image_ready)
        decode_times: list[float] = []
        controller.client.decoded.connect(lambda r: decode_times.append(r.decode_seconds))
        out = []
        rng = np.random.default_rng(0)
        for _ in range(clicks):
            window.controller.clear_prompts()
            window.last_paint_latency = None
            x, y = rng.uniform(300, 1600), rng.uniform(200, 900)
            pos = window.canvas.mapFromScene(x, y)
            QTest.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)
            _wait(app, lambda: window.last_paint_latency is not None)
            out.append(window.last_paint_latency - decode_times[-1])
        return out
    finally:
        window.close()


def open_stall(app: QApplication, folder: Path) -> tuple[float, float]:
    """(longest gap between 1 ms timer ticks while opening the 24 MP image, total seconds to first paint)."""
    controller, _ = create_controller(folder, segmenter=DiscEngine())
    window = MainWindow(controller)
    window.resize(1400, 900)
    window.show()
    try:
        app.processEvents()
        gaps: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def tick() -> None:
            now = clock.nsecsElapsed()
            gaps.append((now - last[0]) / 1e9)
            last[0] = now

        timer = QTimer()
        timer.setInterval(1)
        timer.timeout.connect(tick)
        timer.start()
        painted = []
        start = time.perf_counter()
        controller.image_loaded.connect(lambda _img: window.canvas.painted.connect(lambda: painted.append(1)))
        controller.step_image(+1)
        _wait(app, lambda: bool(painted) and controller.client.image_ready)
        total = time.perf_counter() - start
        end = time.perf_counter() + 0.2
        while time.perf_counter() < end:
            app.processEvents()
        timer.stop()
        return max(gaps), total
    finally:
        window.close()


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "2mp", Path(tmp) / "24mp"
        small.mkdir()
        big.mkdir()
        base = rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)
        Image.fromarray(base).resize((1920, 1080)).save(small / "img.jpg", quality=90)
        Image.fromarray(base).resize((6000, 4000)).save(big / "img.jpg", quality=90)
        lat = click_latency(app, small)
        stall, total = open_stall(app, big)
    print(
        f"click -> painted mask beyond decode, 1920x1080 (2.1 MP), {len(lat)} clicks: "
        f"median {statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms (target <= 30 ms)"
    )
    print(
        f"open 6000x4000 (24 MP) JPEG: longest event-loop stall {stall * 1000:.1f} ms (target <= 100 ms), "
        f"{total:.2f} s to first paint + encoded"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
