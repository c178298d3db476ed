"""View > Hover preview: the switch (kept in the user settings) and the wiring between canvas, controller and the
canvas's hover layer. The rules live in ``controller_hover.py`` and ``annotator.core.hover``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu

from annotator.core.prefs import HOVER_PREVIEW, hover_preview_enabled, update_settings
from annotator.core.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


def install_hover_view(window: MainWindow, view_menu: QMenu) -> None:
    c, canvas = window.controller, window.canvas
    action = window.actions_by_id["hover_preview"]
    action.setCheckable(True)
    try:
        enabled = hover_preview_enabled(load_settings())
    except SettingsError:
        enabled = hover_preview_enabled(Settings())
    action.setChecked(enabled)
    c.hover.set_enabled(enabled)
    view_menu.addAction(action)

    def toggle(on: bool) -> None:
        c.hover.set_enabled(on)
        error = update_settings(lambda s: s.extra.__setitem__(HOVER_PREVIEW, bool(on)))
        if error is not None:
            window.statusBar().showMessage(error)

    action.toggled.connect(toggle)
    canvas.hovered.connect(c.hover.at)
    # Answers come at the view's resolution, outlines stroked for its zoom, as it was when asked (segment worker).
    canvas.painted.connect(lambda: setattr(c.client, "outline_scale", canvas.scale_factor()))
    canvas.hover_left.connect(c.hover.left)

    def show() -> None:
        canvas.hover_layer.set_preview(c.hover.preview(), c.hover.table())

    c.hover.changed.connect(show)
