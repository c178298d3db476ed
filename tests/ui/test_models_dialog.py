"""Settings > Models…: background download from a local server (progress, checksum), own checkpoints, Use."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from annotator.core import model_manager
from annotator.core.download import part_path
from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.model_manager import ModelManager, OfficialModel
from annotator.core.settings import Settings, load_settings
from annotator.ui.models_dialog import ModelsDialog
from sam_model.protocol import ImageEmbedding

PAYLOAD = np.random.default_rng(3).integers(0, 256, 3 * 2**20 + 1234, dtype=np.uint8).tobytes()
FILE = "sam_test_model.pth"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving ``PAYLOAD`` as ``FILE``; yields its base address."""
    root = tmp_path / "served"
    root.mkdir()
    (root / FILE).write_bytes(PAYLOAD)
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _manager(tmp_path: Path, server: str, monkeypatch, sha256: str) -> ModelManager:
    model = OfficialModel("vit_b", FILE, f"{server}/{FILE}", sha256, len(PAYLOAD))
    monkeypatch.setitem(model_manager.OFFICIAL_MODELS, "vit_b", model)
    settings = Settings(models_dir=str(tmp_path / "models"), path=tmp_path / "settings.json")
    return ModelManager(settings, base_url=server)


@pytest.fixture
def dialog_for(qtbot) -> Iterator:
    made: list[ModelsDialog] = []

    def make(manager: ModelManager, cache: EmbeddingCache | None = None) -> ModelsDialog:
        dialog = ModelsDialog(manager, cache)
        qtbot.addWidget(dialog)
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.close()


def test_download_reports_progress_and_installs(qtbot, tmp_path, server, monkeypatch, dialog_for) -> None:
    manager = _manager(tmp_path, server, monkeypatch, hashlib.sha256(PAYLOAD).hexdigest())
    dialog = dialog_for(manager)
    assert {"vit_b", "vit_l", "vit_h", "vit_t", "sam2.1_hiera_tiny"} <= {r.name for r in dialog._rows}
    assert dialog.row("vit_b").installed is False
    dialog.select("vit_b")
    assert dialog.download_button.isEnabled() and not dialog.use_button.isEnabled()

    seen: list[int] = []
    dialog.download_button.click()
    dialog.task.progress.connect(lambda p: seen.append(p.done))
    with qtbot.waitSignal(dialog.task.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: dialog.task is None, timeout=10000)
    assert seen and seen == sorted(seen) and seen[-1] == len(PAYLOAD)
    path = tmp_path / "models" / FILE
    assert path.read_bytes() == PAYLOAD
    assert dialog.row("vit_b").installed and dialog.row("vit_b").verified
    assert "installed and verified" in dialog.message.text()
    assert dialog.use_button.isEnabled()


def test_corrupt_download_shows_message_and_installs_nothing(
    qtbot, tmp_path, server, monkeypatch, dialog_for
) -> None:
    manager = _manager(tmp_path, server, monkeypatch, "0" * 64)  # the served file does not match
    dialog = dialog_for(manager)
    dialog.start_download("vit_b")
    with qtbot.waitSignal(dialog.task.failed, timeout=30000) as blocker:
        pass
    qtbot.waitUntil(lambda: dialog.task is None, timeout=10000)
    assert "checksum" in blocker.args[1]
    assert "checksum" in dialog.message.text() and FILE in dialog.message.text()
    path = tmp_path / "models" / FILE
    assert not path.exists() and not part_path(path).exists()
    assert not dialog.row("vit_b").installed


def test_partial_download_is_shown_as_resuming(qtbot, tmp_path, server, monkeypatch, dialog_for) -> None:
    manager = _manager(tmp_path, server, monkeypatch, hashlib.sha256(PAYLOAD).hexdigest())
    part = part_path(tmp_path / "models" / FILE)
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[: 2**20])  # an interrupted earlier download
    dialog = dialog_for(manager)
    assert "resumes" in dialog.table.item([r.name for r in dialog._rows].index("vit_b"), 2).text()
    dialog.start_download("vit_b")
    assert dialog.message.text().startswith("Resuming vit_b")
    with qtbot.waitSignal(dialog.task.finished, timeout=30000):
        pass
    assert (tmp_path / "models" / FILE).read_bytes() == PAYLOAD


def test_add_checkpoint_errors_name_the_file(qtbot, tmp_path, dialog_for) -> None:
    dialog = dialog_for(ModelManager(Settings(models_dir=str(tmp_path / "m"), path=tmp_path / "s.json")))
    bogus = tmp_path / "notes.pth"
    bogus.write_bytes(b"this is not a checkpoint")
    rows = len(dialog._rows)
    with qtbot.waitSignal(dialog.check_finished, timeout=30000) as finished:
        assert dialog.add(bogus)
    assert finished.args == [False]
    assert str(bogus) in dialog.message.text()
    assert len(dialog._rows) == rows, "nothing was added"


def test_add_and_use_own_checkpoint_is_saved(qtbot, tmp_path, sam_reference, dialog_for) -> None:
    settings_file = tmp_path / "settings.json"
    dialog = dialog_for(ModelManager(Settings(models_dir=str(tmp_path / "m"), path=settings_file)))
    chosen: list[object] = []
    dialog.engine_selected.connect(chosen.append)
    with qtbot.waitSignal(dialog.check_finished, timeout=30000) as finished:
        assert dialog.add(sam_reference / "sam_tiny_a.pth")
        assert not dialog.add_button.isEnabled(), "one check at a time, the window stays responsive"
    assert finished.args == [True]
    assert dialog.row("sam_tiny_a").installed
    dialog.use_button.click()
    assert chosen == [str((sam_reference / "sam_tiny_a.pth").resolve())]
    assert load_settings(settings_file).checkpoint == chosen[0], "the next start uses it"
    assert dialog.row("sam_tiny_a").active
    dialog.classic_button.click()
    assert chosen[-1] is None and load_settings(settings_file).checkpoint is None


def test_clear_cache_button(tmp_path, dialog_for) -> None:
    cache = EmbeddingCache(tmp_path / "cache", 2**20)
    embedding = ImageEmbedding("m", (4, 4), (4, 4), {"f": np.zeros((2, 2), np.float32)})
    cache.put("k", embedding)
    manager = ModelManager(Settings(models_dir=str(tmp_path / "m"), path=tmp_path / "s.json"))
    dialog = dialog_for(manager, cache)
    dialog.clear_cache_button.click()
    assert cache.get("k", "m") is None
    assert "1 embeddings deleted" in dialog.message.text()


def test_checks_run_off_the_gui_thread(qtbot, tmp_path, sam_reference, dialog_for, monkeypatch) -> None:
    import threading

    threads: list[str] = []
    real_verify = ModelManager.verify

    def verify(self, path, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real_verify(self, path, **kwargs)

    monkeypatch.setattr(ModelManager, "verify", verify)
    dialog = dialog_for(ModelManager(Settings(models_dir=str(tmp_path / "m"), path=tmp_path / "s.json")))
    with qtbot.waitSignal(dialog.check_finished, timeout=30000):
        dialog.add(sam_reference / "sam_tiny_a.pth")
    with qtbot.waitSignal(dialog.check_finished, timeout=30000) as finished:
        assert dialog.verify("sam_tiny_a")
    assert finished.args == [True] and "OK" in dialog.message.text()
    assert len(threads) == 2 and threading.main_thread().name not in threads


def test_rows_show_every_family_with_size_and_use(tmp_path, dialog_for) -> None:
    dialog = dialog_for(ModelManager(Settings(models_dir=str(tmp_path / "m"), path=tmp_path / "s.json")))
    texts = {
        dialog.table.item(r, 0).text(): [
            dialog.table.item(r, c).text() for c in range(dialog.table.columnCount())
        ]
        for r in range(dialog.table.rowCount())
    }
    assert texts["vit_t"][1] == "MobileSAM" and texts["vit_t"][3] == "about 41 MB"
    assert texts["sam2.1_hiera_tiny"][1] == "SAM 2.1" and "CPU" in texts["sam2.1_hiera_tiny"][6]
    assert {f"sam2_hiera_{s}" for s in ("tiny", "small", "base_plus", "large")} <= set(texts)
    assert dialog.table.item(0, 0).text() == "vit_t", "the small ones first"
