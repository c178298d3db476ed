"""View > objects: outline-only and hide-all toggles, the opacity slider, N (new object) and the selection hint.

The style itself lives in the session (``Session.overlay_style``); this module only builds the
widgets and forwards their changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMenu, QSlider

from annotator.core.overlay_style import OverlayStyle

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


def install_object_view(window: MainWindow, view_menu: QMenu) -> None:
    """Add the object-view actions to ``view_menu``, the opacity slider to a toolbar, the hint to the status
    bar, and wire them to ``window.controller``."""
    c, a = window.controller, window.actions_by_id
    view_menu.addSeparator()
    for name in ("outline_only", "hide_all"):
        a[name].setCheckable(True)
        view_menu.addAction(a[name])
    a["outline_only"].toggled.connect(
        lambda on: c.set_overlay_style(_replace(c.overlay_style, outline_only=on))
    )
    a["hide_all"].toggled.connect(lambda on: c.set_overlay_style(_replace(c.overlay_style, hide_all=on)))
    edit_menu = next(m for m in window.menuBar().findChildren(QMenu) if m.title() == "&Edit")
    edit_menu.addAction(a["new_object"])
    a["new_object"].triggered.connect(c.new_object)

    toolbar = window.addToolBar("Objects")
    toolbar.setObjectName("objects_toolbar")
    toolbar.addWidget(QLabel(" Opacity "))
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setObjectName("opacity_slider")
    slider.setRange(0, 100)
    slider.setValue(round(c.overlay_style.opacity * 100))
    slider.setFixedWidth(120)
    slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    slider.setToolTip("Fill opacity of the objects")
    slider.valueChanged.connect(lambda v: c.set_overlay_style(c.overlay_style.with_opacity(v / 100)))
    toolbar.addWidget(slider)
    toolbar.addAction(a["outline_only"])
    toolbar.addAction(a["hide_all"])
    window.opacity_slider = slider

    hint = QLabel("")
    hint.setObjectName("selection_hint")
    hint.setStyleSheet("QLabel { color: #ffd24a; font-weight: bold; }")
    hint.setVisible(False)
    window.statusBar().insertPermanentWidget(0, hint)
    window.selection_hint = hint

    def show_hint(_id: object = None) -> None:
        text = c.selection_hint()
        hint.setText(text)
        hint.setVisible(bool(text))

    c.selection_changed.connect(show_hint)
    c.instances_changed.connect(show_hint)  # category renamed or object deleted
    c.object_changed.connect(show_hint)  # an object deleted, its category changed


def _replace(style: OverlayStyle, **changes: bool) -> OverlayStyle:
    from dataclasses import replace

    return replace(style, **changes)
