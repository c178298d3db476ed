"""Folders (issue 13, item 5): the last folder and image are reopened, File > Open recent lists the folders
opened before, and files added to or removed from the open folder are picked up without losing anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from annotator.core.folder_sync import MISSING
from annotator.core.model import ImageStatus
from annotator.core.prefs import last_session, recent_folders, start_folder
from annotator.core.settings import Settings, load_settings
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def _write_image(path: Path, w: int = 90, h: int = 70) -> None:
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def test_last_folder_and_image_are_remembered(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    with qtbot.waitSignal(c.image_loaded, timeout=10000):
        press(window, Qt.Key.Key_PageDown)
    folder, image = last_session(load_settings())
    assert folder == Path(c.project.root) and image == c.current_key == "c.png"
    # The next start without a folder argument opens that folder on that image.
    assert start_folder(load_settings(), None, Path("/samples")) == (folder, "c.png")


def test_start_folder_rules(tmp_path) -> None:
    samples = tmp_path / "samples"
    settings = Settings()
    assert start_folder(settings, None, samples) == (samples, None)
    gone = tmp_path / "gone"
    settings.extra.update(last_folder=str(gone), last_image="x.png")
    assert start_folder(settings, None, samples) == (samples, None)  # the last folder no longer exists
    gone.mkdir()
    assert start_folder(settings, None, samples) == (gone, "x.png")
    other = tmp_path / "other"
    assert start_folder(settings, other, samples) == (other, None)  # a folder given: its first image


def test_recent_menu_lists_previous_folders(qtbot, make_window, image_folder, tmp_path) -> None:
    second = tmp_path / "second"
    second.mkdir()
    _write_image(second / "x.png")
    make_window(second, segmenter=DiscSegmenter())
    window = make_window(image_folder, segmenter=DiscSegmenter())
    assert recent_folders(load_settings())[:2] == [image_folder, second]
    menu = window.folder_view.recent_menu
    menu.aboutToShow.emit()
    texts = [a.text() for a in menu.actions()]
    assert str(second) in texts and str(image_folder) not in texts


def test_added_and_removed_files_are_picked_up(qtbot, make_window, image_folder) -> None:
    window = make_window(image_folder, segmenter=DiscSegmenter())
    c = window.controller
    click_image(qtbot, window, 40, 40)
    press(window, Qt.Key.Key_Return)  # a.png has an object
    count = window.file_list.count()
    _write_image(image_folder / "d_new.png")
    qtbot.waitUntil(lambda: c.project.has_image("d_new.png"), timeout=10000)
    assert "d_new.png" in c.image_keys
    qtbot.waitUntil(lambda: window.file_list.count() == count + 1, timeout=5000)
    (image_folder / "a.png").unlink()
    qtbot.waitUntil(lambda: c.project.image("a.png").status is ImageStatus.ERROR, timeout=10000)
    record = c.project.image("a.png")
    assert record.error == MISSING and len(record.instances) == 1  # nothing is lost
    assert "missing" in window.statusBar().currentMessage()
    _write_image(image_folder / "a.png", 160, 120)
    qtbot.waitUntil(lambda: c.project.image("a.png").status is ImageStatus.IN_PROGRESS, timeout=10000)
