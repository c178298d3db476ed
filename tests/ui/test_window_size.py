"""A new window fits the screen: 1400 x 900 at most, 90 % of a smaller screen's available area."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

from annotator.ui.main_window import initial_size


def test_initial_size_fits_the_available_screen(qapp) -> None:
    available = QGuiApplication.primaryScreen().availableGeometry()
    width, height = initial_size()
    assert 0 < width <= min(1400, available.width()) and 0 < height <= min(900, available.height())
    assert width == min(1400, int(available.width() * 0.9))
