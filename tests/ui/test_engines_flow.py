"""The click -> accept -> export loop with the real engines: the tiny reference SAM and the classical engine."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_precision_auto_and_the_bf16_warning_reach_the_window(
    qtbot, make_window, image_folder, sam_reference, monkeypatch
) -> None:
    """``auto`` runs float32 on a CPU without native bf16; an explicit bf16 loads but says why it is slow."""
    import sam_model.device
    from annotator.workers.requests import create_engine_segmenter

    monkeypatch.setattr(sam_model.device, "read_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    checkpoint = str(sam_reference / "sam_tiny_a.pth")
    window = make_window(  # no image open: nothing is encoded (emulated bf16 is slow on such a CPU)
        image_folder,
        factory=create_engine_segmenter,
        engine=EngineRequest(checkpoint, "cpu", "auto"),
        open_first=False,
    )
    qtbot.waitUntil(lambda: window.controller.client.engine is not None, timeout=60000)
    info = window.controller.client.engine
    assert info is not None and info.dtype == "float32" and info.note is None
    assert "float32" in window.engine_view.label.text()
    window.engine_request = EngineRequest(checkpoint, "cpu", "auto")  # as main.py sets it

    with qtbot.waitSignal(window.controller.client.engine_ready, timeout=60000) as ready:
        window.engine_view.dtype_actions["bfloat16"].trigger()
    info = ready.args[0]
    assert info.dtype == "bfloat16" and "neither AVX512_BF16 nor AMX" in info.note
    assert (
        "slow on this CPU" in window.engine_view.label.text()
        and "AVX512_BF16" in window.engine_view.label.toolTip()
    )
    assert (
        window.engine_request.dtype == "bfloat16" and window.engine_view.dtype_actions["bfloat16"].isChecked()
    )


def test_the_engine_label_names_the_device_auto_picked(
    qtbot, make_window, image_folder, sam_reference
) -> None:
    """With device ``auto`` the label says which device runs the model (``cpu (auto)`` on this machine)."""
    import torch

    from annotator.workers.requests import create_engine_segmenter

    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    window = make_window(
        image_folder,
        factory=create_engine_segmenter,
        engine=EngineRequest(str(sam_reference / "sam_tiny_a.pth"), "auto", "float32"),
        open_first=False,
    )
    qtbot.waitUntil(lambda: window.controller.client.engine is not None, timeout=60000)
    info = window.controller.client.engine
    assert info is not None and info.device == "auto" and info.runs_on == expected
    assert f"{expected} (auto)" in window.engine_view.label.text()
    assert window.engine_view.device_actions["auto"].isChecked()


def test_a_bad_checkpoint_error_names_the_file(qtbot, make_window, image_folder, tmp_path) -> None:
    from annotator.workers.requests import create_engine_segmenter

    bogus = tmp_path / "broken_model.pt"
    bogus.write_bytes(b"PK\x03\x04 not really a zip")
    window = make_window(
        image_folder, factory=create_engine_segmenter, engine=EngineRequest(None), open_first=False
    )
    with qtbot.waitSignal(window.controller.client.engine_failed, timeout=60000) as failed:
        window.load_engine(EngineRequest(str(bogus), "cpu", "auto"))
    assert "broken_model.pt" in failed.args[0]


@pytest.mark.parametrize(
    ("relative", "module"),
    [
        ("mobilesam/mobilesam_a.pth", "sam_model.sam.tiny_vit"),
        ("sam2/sam2_tiny_a.pth", "sam_model.sam2.predictor"),
    ],
)
def test_loop_with_mobilesam_and_sam2(
    qtbot, make_window, image_folder, tmp_path, shared, relative, module
) -> None:
    """The click -> accept -> export loop through the app's own engine loading (load_predictor)."""
    import importlib.util

    from annotator.workers.requests import create_engine_segmenter

    try:
        present = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        present = False
    checkpoint = shared / "reference" / relative
    if not present or not checkpoint.is_file():
        pytest.skip(f"{module} or {checkpoint} is not in this build")
    window = make_window(
        image_folder, factory=create_engine_segmenter, engine=EngineRequest(str(checkpoint), "cpu", "float32")
    )
    assert window.controller.client.engine.checkpoint == str(checkpoint)
    _run_loop(qtbot, window, tmp_path)
