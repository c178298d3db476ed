"""GUI test fixtures: a fake segmenter, a sample folder, and a check that no worker thread is left running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from annotator.workers.threads import running_worker_threads


@pytest.fixture(autouse=True)
def no_thread_left_running(qapp) -> Iterator[None]:
    """Fail the test if a worker QThread it started is still running afterwards."""
    yield
    left = running_worker_threads()
    assert not left, f"worker threads left running: {left}"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch) -> None:
    """Windows remember folders and preferences in the user settings: keep them out of the real ones."""
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path_factory.mktemp("settings-home")))


@pytest.fixture
def image_folder(tmp_path):
    """A folder with two small images (different sizes) and one corrupt file."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(folder / "a.png")
    (folder / "b_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    Image.fromarray(rng.integers(0, 255, (100, 140, 3), dtype=np.uint8)).save(folder / "c.png")
    return folder


@pytest.fixture
def make_window(qtbot):
    """Build a main window over a folder with a given segmenter (or engine factory); closed after the test."""
    from annotator.ui.app import create_controller
    from annotator.ui.main_window import MainWindow

    windows = []

    def make(folder, segmenter=None, factory=None, engine=None, open_first=True):
        controller, _warnings = create_controller(folder, segmenter=segmenter, factory=factory, engine=engine)
        window = MainWindow(controller)
        # A mask left unaccepted at the end of a test would make closing ask (a modal box): drop it first.
        qtbot.addWidget(window, before_close_func=lambda w: w.controller.discard_unaccepted())
        window.resize(900, 700)
        window.show()
        windows.append(window)
        if open_first:
            with qtbot.waitSignal(controller.image_loaded, timeout=10000):
                controller.step_image(+1)
            qtbot.waitUntil(lambda: controller.client.image_ready, timeout=60000)
        return window

    yield make
    for window in windows:
        window.controller.shutdown()
