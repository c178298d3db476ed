"""The main window's menus, toolbar and category-number shortcuts, built from the actions of
:mod:`annotator.ui.actions` (their ids, texts and keys come from the keymap)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from annotator.ui.engine_view import EngineView
from annotator.ui.hover_view import install_hover_view
from annotator.ui.object_view import install_object_view
from annotator.ui.tolerance_control import ToleranceControl

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


def build_menus(window: MainWindow) -> None:
    """File, Edit, View, Tools, Image, Settings and Help menus, the polygon toolbar, and keys 1-9."""
    a = window.actions_by_id
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    for name in ("open_folder", "load_checkpoint"):
        file_menu.addAction(a[name])
    window.file_menu = file_menu  # File > Open recent is added by FolderView
    window.engine_view = EngineView(window, file_menu.addMenu("&Device"))  # device, precision, engine label
    window.statusBar().addPermanentWidget(window.engine_view.label)
    file_menu.addSeparator()
    for name in ("export_coco", "import_coco"):
        file_menu.addAction(a[name])
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])
    edit = menu.addMenu("&Edit")
    for edit_name in (
        "undo",
        "redo",
        None,
        "accept",
        "accept_box",
        "clear_prompts",
        "next_candidate",
        None,
        "delete_instance",
        "toggle_hidden",
        "segment_box",
    ):
        edit.addSeparator() if edit_name is None else edit.addAction(a[edit_name])
    view = menu.addMenu("&View")
    for name in ("fit", "zoom_in", "zoom_out"):
        view.addAction(a[name])
    install_object_view(window, view)  # outlines only, hide all, opacity, N and the selection hint
    install_hover_view(window, view)  # the hover preview and its switch
    tools = menu.addMenu("&Tools")
    window.tool_group = QActionGroup(window)
    for name in ("tool_prompt", "tool_brush", "tool_eraser", "tool_polygon"):
        a[name].setCheckable(True)
        window.tool_group.addAction(a[name])
        tools.addAction(a[name])
    a["tool_prompt"].setChecked(True)
    toolbar = window.addToolBar("Polygon")
    toolbar.setObjectName("polygon_toolbar")
    window.tolerance = ToleranceControl(window.polygon, toolbar)
    for name in ("tool_prompt", "tool_brush", "tool_eraser", "tool_polygon"):
        toolbar.addAction(a[name])
    tools.addSeparator()
    tools.addAction(a["brush_smaller"])
    tools.addAction(a["brush_larger"])
    tools.addSeparator()
    tools.addAction(a["propose_objects"])
    tools.addAction(a["review_proposals"])
    tools.addAction(a["find_similar_all"])
    tools.addAction(a["find_similar_selected"])
    tools.addAction(a["boxes_to_masks"])
    image = menu.addMenu("&Image")
    for name in ("next_image", "previous_image", "mark_done"):
        image.addAction(a[name])
    settings_menu = menu.addMenu("&Settings")
    settings_menu.addAction(a["models"])
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(a["help_keys"])
    for digit in range(1, 10):
        shortcut = QAction(window)
        shortcut.setShortcut(QKeySequence(str(digit)))
        shortcut.triggered.connect(lambda _c=False, n=digit: window.pick_category_number(n))
        window.addAction(shortcut)
