"""File > Open folder…: the new folder's session replaces the old one; the old window's threads stop and it is freed."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent
from shiboken6 import isValid

from annotator.ui import app as app_module
from annotator.ui.app import create_controller, reopen_folder
from annotator.ui.main_window import MainWindow
from tests.ui.fakes import DiscSegmenter


def test_reopen_replaces_the_session_and_frees_the_old_window(qtbot, image_folder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.full((50, 70, 3), 90, np.uint8)).save(other / "x.png")
    controller, _ = create_controller(image_folder, segmenter=DiscSegmenter())
    old = MainWindow(controller)  # not registered with qtbot: the test checks that it gets deleted
    old.show()
    with qtbot.waitSignal(controller.image_loaded, timeout=10000):
        controller.step_image(+1)
    before = list(app_module.OPEN_WINDOWS)

    reopen_folder(old, other)
    new = app_module.OPEN_WINDOWS[-1]
    try:
        assert new is not old and new not in before
        assert new.controller.image_keys == ["x.png"]
        qtbot.waitUntil(lambda: new.controller.current_key == "x.png", timeout=10000)
        assert old not in app_module.OPEN_WINDOWS
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        assert not isValid(old)  # the closed window is deleted, not kept alive
    finally:
        new.close()
        app_module.OPEN_WINDOWS.remove(new)
