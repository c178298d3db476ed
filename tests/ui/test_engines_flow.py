"""The click -> accept -> export loop with the real engines: the tiny reference SAM and the classical engine."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from annotator.workers.requests import EngineRequest
from tests.ui.helpers import click_image, press
from tests.ui.test_annotate_flow import _exported_masks


def _run_loop(qtbot, window, tmp_path) -> None:
    c = window.controller
    click_image(qtbot, window, 60, 50)
    live = c.live_mask()
    assert live is not None and live.shape == (120, 160)
    if not live.any():  # an engine may answer an empty mask for noise; a box prompt must give something
        with qtbot.waitSignal(c.client.decoded, timeout=60000):
            c.set_box(20, 20, 120, 90)
        live = c.live_mask()
    assert live.any()
    shown = live.copy()
    press(window, Qt.Key.Key_Return)
    assert len(c.current_instances()) == 1
    exported = _exported_masks(c.project, tmp_path)
    assert np.array_equal(exported["a.png"][0], shown)


def test_loop_with_tiny_reference_sam(qtbot, make_window, image_folder, tmp_path, sam_reference) -> None:
    from sam_model.build import load_predictor

    checkpoint = str(sam_reference / "sam_tiny_a.pth")
    window = make_window(
        image_folder,
        factory=lambda req: load_predictor(req.checkpoint, device="cpu"),
        engine=EngineRequest(checkpoint, "cpu"),
    )
    assert window.controller.client.engine is not None
    assert window.controller.client.engine.checkpoint == checkpoint
    _run_loop(qtbot, window, tmp_path)
    assert window.controller.current_instances()[0].source == "sam"


def test_loop_with_classic_engine(qtbot, make_window, image_folder, tmp_path) -> None:
    from sam_model.classic.segmenter import ClassicSegmenter

    window = make_window(image_folder, factory=lambda req: ClassicSegmenter(), engine=EngineRequest(None))
    _run_loop(qtbot, window, tmp_path)
    assert window.controller.current_instances()[0].source == "classic"
