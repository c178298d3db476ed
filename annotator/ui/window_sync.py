"""Keeps the main window's widgets in step with the :class:`~annotator.ui.controller.SessionController`.

The controller's signals (image loaded or failed, live mask, objects, selection, prompts, candidates, history,
project events) arrive here and are drawn: the canvas layers, the objects and categories panels, the file list and
the Edit menu's undo / redo texts. Nothing here changes the session; it only shows it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QTimer
from PySide6.QtGui import QPixmap

from annotator.core.events import Event
from annotator.core.session import CATEGORY_EVENTS
from annotator.core.session_events import ObjectChange, SessionEvent
from annotator.ui.controller import CandidateView
from annotator.ui.instance_layer import LayerUpdate
from annotator.workers.image_loader import DecodedImage

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


class WindowSync:
    """The controller -> widgets half of :class:`~annotator.ui.main_window.MainWindow` (connected on creation).

    ``last_paint_latency``: seconds from the last click or box (:meth:`prompt_sent`) to the canvas painting its
    mask (benchmarks read it), ``None`` until one was painted.
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.last_paint_latency: float | None = None
        self._click_time: float | None = None
        self._await_paint = False
        c = window.controller
        c.image_loaded.connect(self._on_image_loaded)
        c.image_failed.connect(self._on_image_failed)
        c.live_changed.connect(self.refresh_live)
        c.live_region_changed.connect(self._refresh_live_region)
        c.instances_changed.connect(self.refresh_instances)
        c.object_changed.connect(self._on_object_changed)
        c.prompts_changed.connect(self.refresh_prompts)
        c.candidate_changed.connect(self._on_candidate)
        c.selection_changed.connect(self._on_selection_changed)
        c.current_image_changed.connect(window.file_list.set_current)
        c.history_changed.connect(self.refresh_history_actions)
        c.project_event.connect(self._on_project_event)
        window.canvas.painted.connect(self._on_painted)

    def prompt_sent(self) -> None:
        """A click or box went to the controller: time until its mask is painted."""
        self._click_time = time.perf_counter()

    def _on_painted(self) -> None:
        if self._click_time is not None and self._await_paint:
            self.last_paint_latency = time.perf_counter() - self._click_time
            self._click_time = None
            self._await_paint = False

    def _on_image_loaded(self, image: DecodedImage) -> None:
        self.window.canvas.set_pixmap(QPixmap.fromImage(image.qimage))
        self.refresh_instance_panel()
        self.refresh_prompts()

    def _on_image_failed(self, key: str, message: str) -> None:
        w, c = self.window, self.window.controller
        if key == c.current_key:
            w.canvas.set_pixmap(None)
            w.canvas.live_layer.set_labels(None, [])
            w.canvas.live_outline.set_mask(None)
            w.canvas.instances_layer.set_labels(None, [])
            w.canvas.instance_outlines.set_outlines([])
        w.file_list.update_record(c.project.image(key))
        direction = c.nav_direction
        QTimer.singleShot(0, lambda: c.step_image(direction))

    def refresh_live(self) -> None:
        """The live (unaccepted) mask's fill and outline; while refining, the selected object's old ones give way."""
        w, c = self.window, self.window.controller
        labels, outline = c.live_labels(), c.live_outline()
        w.canvas.live_layer.set_labels(labels, c.live_table(), outline=outline)
        w.canvas.live_outline.set_mask(labels, outline)
        self._await_paint = self._click_time is not None and labels is not None
        if c.selected_id is not None:  # refining: the old fill and outline give way to the new mask
            self._show_layers(c.touch_layers([c.selected_id], exclude=w.brush.editing_instance))

    def _refresh_live_region(self, rect: QRect) -> None:
        self.window.canvas.live_layer.changed(rect)

    def refresh_instances(self) -> None:
        """Redraw every object (another image, categories, style); one object's change is
        :meth:`_on_object_changed`."""
        w = self.window
        update = w.controller.instance_layers(exclude=w.brush.editing_instance)
        w.canvas.instances_layer.set_labels(update.labels, update.table, update.dirty)
        w.canvas.instance_outlines.set_entries(update.outlines or [])
        self.refresh_instance_panel()
        w.polygon.refresh()

    def _show_layers(self, update: LayerUpdate | None) -> bool:
        """Show one change of the instance layers (``None``: they cannot follow it, so all is redrawn)."""
        if update is None:
            if self.window.controller.current_image is not None:
                self.refresh_instances()
            return False
        self.window.canvas.instances_layer.set_labels(update.labels, update.table, update.dirty)
        self.window.canvas.instance_outlines.apply(update.edits)
        return True

    def _on_object_changed(self, event: SessionEvent) -> None:
        """One object of the current image changed: its layers, its row and the polygon tool follow."""
        w, c = self.window, self.window.controller
        if not self._show_layers(c.object_layers(event, exclude=w.brush.editing_instance)):
            return
        panel, iid, project = w.instance_panel, event.instance_id, c.project
        if iid is None or event.image_key is None:
            return
        if event.change is ObjectChange.REMOVED:
            panel.remove_instance(iid)
        elif event.index is not None:
            inst = project.image(event.image_key).instance_at(event.index)
            category = project.category(inst.category_id) if project.has_category(inst.category_id) else None
            if event.change is ObjectChange.ADDED:
                panel.insert_instance(event.index, inst, category)
            else:
                panel.update_instance(inst, category)
        w.polygon.refresh()

    def _on_selection_changed(self, instance_id: int | None) -> None:
        w = self.window
        if self._show_layers(w.controller.selection_layers(exclude=w.brush.editing_instance)):
            w.instance_panel.set_selected(instance_id)
        else:
            self.refresh_instance_panel()

    def refresh_instance_panel(self) -> None:
        c = self.window.controller
        self.window.instance_panel.set_instances(c.current_instances(), c.project.categories, c.selected_id)

    def refresh_prompts(self) -> None:
        state = self.window.controller.prompt_state
        self.window.canvas.prompt_item.set_prompts([(p.x, p.y, p.label) for p in state.points], state.box)

    def refresh_history_actions(self) -> None:
        """Edit menu: Undo/Redo say what they would do (and on which image, when not this one)."""
        c = self.window.controller
        for name, step in (("undo", c.undo_step()), ("redo", c.redo_step())):
            action = self.window.actions_by_id[name]
            action.setText("&" + step.menu_text.replace("&", "&&"))
            action.setEnabled(step.command is not None)

    def _on_candidate(self, view: CandidateView | None) -> None:
        self.window.candidate_label.setText("" if view is None else view.text())

    def refresh_categories(self) -> None:
        c = self.window.controller
        self.window.category_panel.set_categories(c.project.categories, c.current_category_id)

    def _on_project_event(self, event: Event) -> None:
        w, project = self.window, self.window.controller.project
        if event.type in CATEGORY_EVENTS:
            self.refresh_categories()
        if event.type == "reset":
            w.file_list.set_records(project.images)
        elif event.image_key is not None and project.has_image(event.image_key):
            w.file_list.update_record(project.image(event.image_key))
