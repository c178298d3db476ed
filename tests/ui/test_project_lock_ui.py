"""Issue 15, item 1 (window): a second window on a locked project gets read-only or cancel, never a second
writer; the lock is released when the window closes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from annotator.core.project_store import default_project_file, load_project
from annotator.ui.app import StartupError, create_controller
from tests.ui.fakes import DiscSegmenter
from tests.ui.helpers import click_image, press


def test_second_window_is_read_only_or_cancelled(qtbot, make_window, image_folder) -> None:
    first = make_window(image_folder, segmenter=DiscSegmenter())
    path = default_project_file(image_folder)
    assert path.with_name("project.json.lock").is_file()
    asked = []
    with pytest.raises(StartupError, match="locked"):
        create_controller(
            image_folder, segmenter=DiscSegmenter(), on_locked=lambda e: asked.append(e) or "cancel"
        )
    assert asked and not asked[0].stale

    second, _ = create_controller(image_folder, segmenter=DiscSegmenter(), on_locked=lambda e: "read_only")
    try:
        with pytest.raises(Exception, match="read-only"):
            second.autosaver.store.save()
    finally:
        second.shutdown()
    assert path.with_name("project.json.lock").is_file()  # the read-only session never held it

    click_image(qtbot, first, 80, 60)
    press(first, Qt.Key.Key_Return)
    assert len(load_project(path).image(first.controller.current_key).instances) == 1
    first.controller.shutdown()
    assert not path.with_name("project.json.lock").exists()
