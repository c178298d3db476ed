"""The main window: canvas in the middle, file list on the left, categories and objects on the right.

It wires widgets to the :class:`SessionController` and turns menu actions into controller calls; it keeps no
annotation state of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QActionGroup, QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSlider,
    QWidget,
)

from annotator.core.model import ImageStatus
from annotator.core.undo import AddCategoryCommand, recolor_category_command, rename_category_command
from annotator.ui.actions import create_actions, load_keymap, shortcuts_html
from annotator.ui.canvas import Canvas, Tool
from annotator.ui.controller import SAVE_FAILED_TITLE, SessionController
from annotator.ui.file_list import FileList
from annotator.ui.models_dialog import open_models_dialog
from annotator.ui.panels import CategoryPanel, InstancePanel
from annotator.ui.polygon_tool import PolygonTool
from annotator.ui.tools import BrushTool
from annotator.ui.window_sync import WindowSync
from annotator.workers.requests import EngineRequest

if TYPE_CHECKING:
    from annotator.ui.engine_view import EngineView
    from annotator.ui.export_dialog import ExportRunner
    from annotator.ui.tolerance_control import ToleranceControl


def initial_size() -> tuple[int, int]:
    """``(width, height)`` of a new window: 1400 x 900, or 90 % of a smaller screen's available area."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return 1400, 900
    available = screen.availableGeometry()
    return min(1400, int(available.width() * 0.9)), min(900, int(available.height() * 0.9))


class MainWindow(QMainWindow):
    """The annotation window over one :class:`SessionController`."""

    opacity_slider: QSlider
    """View > objects' fill opacity (set by :func:`annotator.ui.object_view.install_object_view`)."""
    selection_hint: QLabel
    """The status bar's selection hint (set by :func:`annotator.ui.object_view.install_object_view`)."""
    file_menu: QMenu
    engine_view: EngineView
    tool_group: QActionGroup
    tolerance: ToleranceControl
    """Set by :func:`annotator.ui.menus.build_menus`: the File menu, File > Device and the engine label, the tool
    actions' group, the polygon toolbar's tolerance slider."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        if controller.parent() is None:
            # The window owns its session: deleting it (File > Open folder…) deletes the controller and its
            # signal connections with it, so nothing is ever delivered to a deleted window.
            controller.setParent(self)
        self.setWindowTitle(f"SAM annotator — {controller.project.root}[*]")  # [*]: unsaved changes
        self.resize(*initial_size())
        self.keymap = load_keymap()

        self.canvas = Canvas()
        self.setCentralWidget(self.canvas)
        self.file_list = FileList()
        self.category_panel = CategoryPanel()
        self.instance_panel = InstancePanel()
        self._dock("Images", self.file_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Categories", self.category_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Objects", self.instance_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.candidate_label = QLabel("")
        self.notice_label = QLabel("")  # what the last undo/redo did or is about to do
        self.statusBar().addPermanentWidget(self.notice_label)
        self.statusBar().addPermanentWidget(self.candidate_label)
        from annotator.ui.save_guard import SaveGuard

        self.save_guard = SaveGuard(self)  # dirty state, failed saves, the question on close

        self.brush = BrushTool(controller, self.canvas)
        self.polygon = PolygonTool(controller, self.canvas)
        self.actions_by_id = create_actions(self, self.keymap)
        from annotator.ui.menus import build_menus

        build_menus(self)
        self._connect()
        from annotator.ui.review_mode import ReviewMode

        self.review = ReviewMode(self)  # Tools > Propose objects… / Review proposals (R)
        from annotator.ui.propagate_command import FindSimilar

        self.find_similar = FindSimilar(self)  # Tools > Find similar in all / selected images
        self.exporter: ExportRunner | None = None  # File > Export… (made on first use)
        from annotator.ui.boxes_to_masks import BoxesToMasks

        self.boxes_to_masks = BoxesToMasks(self)  # Tools > Boxes to masks (box-only objects, for review)
        from annotator.ui.busy_view import BusyView

        self.busy_view = BusyView(self)  # busy indicator, "file — 12 / 480" title, stale messages cleared
        self.busy_view.watch_jobs()
        from annotator.ui.folder_view import FolderView

        self.folder_view = FolderView(self, self.file_menu)  # recent, last folder/image, rescans
        self.refresh_categories()
        self.sync.refresh_history_actions()
        self.file_list.set_records(controller.project.images)
        self.canvas.setFocus()

    # --- construction ---------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)

    def _connect(self) -> None:
        c, a = self.controller, self.actions_by_id
        a["quit"].triggered.connect(self.close)
        a["undo"].triggered.connect(c.undo)
        a["redo"].triggered.connect(c.redo)
        a["accept"].triggered.connect(c.accept)
        a["accept_box"].triggered.connect(c.accept_box)
        a["clear_prompts"].triggered.connect(c.clear_prompts)
        a["segment_box"].triggered.connect(c.segment_box)
        a["next_candidate"].triggered.connect(c.cycle_candidate)
        a["next_image"].triggered.connect(lambda: c.step_image(+1))
        a["previous_image"].triggered.connect(lambda: c.step_image(-1))
        a["mark_done"].triggered.connect(self.toggle_done)
        a["fit"].triggered.connect(self.canvas.fit)
        a["zoom_in"].triggered.connect(lambda: self.canvas.zoom(1.25))
        a["zoom_out"].triggered.connect(lambda: self.canvas.zoom(0.8))
        a["tool_prompt"].triggered.connect(lambda: self.set_tool(Tool.PROMPT))
        a["tool_brush"].triggered.connect(lambda: self.set_tool(Tool.BRUSH))
        a["tool_eraser"].triggered.connect(lambda: self.set_tool(Tool.ERASER))
        a["tool_polygon"].triggered.connect(lambda: self.set_tool(Tool.POLYGON))
        a["brush_smaller"].triggered.connect(lambda: self.brush.resize(1 / 1.25))
        a["brush_larger"].triggered.connect(lambda: self.brush.resize(1.25))
        a["delete_instance"].triggered.connect(self.delete_selected)
        a["toggle_hidden"].triggered.connect(self.toggle_selected_hidden)
        a["help_keys"].triggered.connect(self.show_shortcuts)
        a["load_checkpoint"].triggered.connect(self.engine_view.ask_checkpoint)
        a["models"].triggered.connect(lambda: open_models_dialog(self))
        a["open_folder"].triggered.connect(self.ask_folder)
        a["export_coco"].triggered.connect(self.ask_export)
        a["import_coco"].triggered.connect(self.ask_import)

        self.canvas.point_clicked.connect(self._on_click)
        self.canvas.alt_clicked.connect(c.cycle_select_at)
        self.canvas.box_drawn.connect(self._on_box)
        self.sync = WindowSync(
            self
        )  # the controller's changes -> canvas layers, panels, file list, Edit menu
        c.status.connect(lambda text: self.statusBar().showMessage(text))
        c.message.connect(self.show_error)
        c.notice.connect(self.notice_label.setText)

        self.file_list.image_chosen.connect(c.open_image)
        self.category_panel.category_picked.connect(c.set_current_category)
        self.category_panel.add_requested.connect(self.add_category)
        self.category_panel.rename_requested.connect(
            lambda cid, name: self._push(rename_category_command(c.project, cid, name))
        )
        self.category_panel.recolor_requested.connect(
            lambda cid, rgb: self._push(recolor_category_command(c.project, cid, rgb))
        )
        self.category_panel.delete_requested.connect(lambda cid: self.remove_category(cid, merge=False))
        self.category_panel.merge_requested.connect(lambda cid: self.remove_category(cid, merge=True))
        self.instance_panel.selected.connect(c.select_instance)
        self.instance_panel.hidden_toggled.connect(c.set_instance_hidden)
        self.instance_panel.delete_requested.connect(c.delete_instance)
        self.instance_panel.category_requested.connect(c.set_instance_category)

    # --- intents --------------------------------------------------------------------------------------
    def _push(self, command: object) -> None:
        from annotator.core.errors import CoreError

        try:
            self.controller.undo_stack.push(command)  # type: ignore[arg-type]
        except CoreError as exc:
            self.show_error("Cannot change the category", str(exc))

    def add_category(self, name: str) -> None:
        self._push(AddCategoryCommand(self.controller.project, name))

    def remove_category(self, category_id: int, *, merge: bool) -> None:
        """Category > Delete… / Merge…: ask what happens to its objects, then one undoable step."""
        from annotator.core.category_ops import remove_category_command
        from annotator.ui.category_dialogs import ask_category_removal

        project = self.controller.project

        def done(move_to: int | None) -> None:
            if merge and move_to is None:
                return
            self._push(remove_category_command(project, category_id, move_to))

        self.category_dialog = ask_category_removal(self, project, category_id, merge=merge, done=done)

    def pick_category_number(self, number: int) -> None:
        categories = self.controller.project.categories
        if number <= len(categories):
            self.controller.set_current_category(categories[number - 1].id)
            self.refresh_categories()

    def set_tool(self, tool: Tool) -> None:
        self.canvas.set_tool(tool)
        self.actions_by_id[f"tool_{tool.value}"].setChecked(True)
        self.polygon.set_active(tool == Tool.POLYGON)
        self.statusBar().showMessage(f"Tool: {tool.value}")

    def toggle_done(self) -> None:
        c = self.controller
        if c.current_key is None:
            return
        status = c.project.image(c.current_key).status
        c.set_status(ImageStatus.IN_PROGRESS if status is ImageStatus.DONE else ImageStatus.DONE)

    def delete_selected(self) -> None:
        if self.controller.selected_id is not None:
            self.controller.delete_instance(self.controller.selected_id)

    def toggle_selected_hidden(self) -> None:
        inst = self.controller.selected_instance()
        if inst is not None:
            self.controller.set_instance_hidden(inst.id, not inst.hidden)

    @property
    def engine_request(self) -> EngineRequest:
        """The engine chosen (the session's ``engine.request``; set at startup from ``--checkpoint``)."""
        return self.controller.session.engine.request

    @engine_request.setter
    def engine_request(self, request: EngineRequest) -> None:
        self.controller.session.engine.request = request

    def load_engine(self, request: EngineRequest) -> None:
        """Load ``request``'s engine in the worker (the menu and the label follow)."""
        self.engine_view.load(request)

    def ask_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(
            self, "Open image folder", str(self.controller.project.root)
        )
        if folder:
            from annotator.ui.app import reopen_folder

            reopen_folder(self, Path(folder))

    def ask_export(self) -> None:
        from annotator.ui.export_dialog import ask_export, make_export_runner

        if self.exporter is None:
            self.exporter = make_export_runner(self)
        ask_export(self, self.exporter)

    def ask_import(self) -> None:
        from annotator.ui.import_dialog import ask_import

        ask_import(self, self.controller)

    def show_shortcuts(self) -> None:
        from annotator.ui.shortcuts_dialog import ShortcutsDialog

        dialog = ShortcutsDialog(shortcuts_html(self.keymap), self)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def show_error(self, title: str, text: str) -> None:
        """A window-modal warning; a repeat of one still open (e.g. every save failing) updates it instead of
        stacking another box over it."""
        self.statusBar().showMessage(text)
        if title == SAVE_FAILED_TITLE:
            self.save_guard.show_failure(text)
            return
        for box in self.findChildren(QMessageBox, "error_dialog"):
            if box.isVisible() and box.windowTitle() == title:
                box.setText(text)
                return
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # --- canvas events --------------------------------------------------------------------------------
    def _on_click(self, x: float, y: float, label: int) -> None:
        self.sync.prompt_sent()
        self.controller.click(x, y, label)

    def _on_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.sync.prompt_sent()
        self.controller.set_box(x0, y0, x1, y1)

    @property
    def last_paint_latency(self) -> float | None:
        """Click -> painted mask, seconds (benchmarks; :class:`~annotator.ui.window_sync.WindowSync`)."""
        return self.sync.last_paint_latency

    def refresh_categories(self) -> None:
        self.sync.refresh_categories()

    def confirm_discard_unaccepted(self) -> bool:
        """Ask before unaccepted live masks are lost (quit, open another folder); ``True``: go on."""
        keys = self.controller.unaccepted_images()
        if not keys:
            return True
        names = ", ".join(keys[:5]) + (" …" if len(keys) > 5 else "")
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unaccepted masks",
            f"{len(keys)} image(s) have a mask that was not accepted (Enter): {names}.\n"
            "Discard them, or cancel and accept them first?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("unaccepted_dialog")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        if box.exec() != QMessageBox.StandardButton.Discard:
            return False
        self.controller.discard_unaccepted()
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.controller.closed and not (
            self.confirm_discard_unaccepted() and self.save_guard.confirm_close()
        ):
            event.ignore()
            return
        self.review.shutdown()
        self.find_similar.shutdown()
        if self.exporter is not None:
            self.exporter.shutdown()
        self.boxes_to_masks.shutdown()
        self.controller.shutdown()
        super().closeEvent(event)
