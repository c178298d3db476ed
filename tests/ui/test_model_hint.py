"""First start without a model: a dismissible banner offers the small models, once."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QToolBar

from annotator.core.settings import Settings, load_settings
from annotator.ui.model_hint import HINT_SHOWN_KEY, ModelHintBanner, maybe_show_model_hint
from annotator.ui.models_dialog import ModelsDialog
from tests.ui.fakes import DiscSegmenter


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(home))
    return home


def test_the_banner_is_shown_once_and_offers_the_small_models_first(
    qtbot, make_window, image_folder, home
) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(), open_first=False)
    settings = load_settings()
    banner = maybe_show_model_hint(window, settings, None)
    assert isinstance(banner, ModelHintBanner)
    qtbot.waitUntil(banner.isVisible)
    assert list(banner.download_actions) == ["vit_t", "sam2.1_hiera_tiny"]
    assert "MobileSAM" in banner.download_actions["vit_t"].text()
    assert "much better masks" in banner.label.text()
    assert load_settings().extra.get(HINT_SHOWN_KEY) is True, "remembered as soon as it is shown"

    banner.close_action.trigger()
    qtbot.waitUntil(lambda: not window.findChildren(QToolBar, "model_hint"))
    assert maybe_show_model_hint(window, load_settings(), None) is None, "not again at the next start"


def test_no_banner_with_a_model(make_window, image_folder, home) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter(), open_first=False)
    assert maybe_show_model_hint(window, Settings(path=home / "s.json"), "/models/mobile_sam.pt") is None
    assert maybe_show_model_hint(window, Settings(checkpoint="/m.pt", path=home / "s.json"), None) is None


def test_a_download_button_opens_the_models_dialog_downloading_that_model(
    qtbot, make_window, image_folder, home, tmp_path, monkeypatch
) -> None:
    served = tmp_path / "served"
    served.mkdir()  # serves nothing: the download fails with 404 (never the real address)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SAM_ANNOTATOR_MODEL_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        window = make_window(image_folder, segmenter=DiscSegmenter(), open_first=False)
        banner = maybe_show_model_hint(window, load_settings(), None)
        assert banner is not None
        banner.download_actions["sam2.1_hiera_tiny"].trigger()
        dialog = window.findChild(ModelsDialog)
        assert dialog is not None and dialog.selected_name() == "sam2.1_hiera_tiny"
        assert dialog.task is not None and dialog.task.name == "sam2.1_hiera_tiny"
        qtbot.waitUntil(lambda: dialog.task is None, timeout=30000)
        assert "sam2.1_hiera_tiny" in dialog.message.text()
        dialog.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
