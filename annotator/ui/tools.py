"""Manual correction: the brush/eraser (the polygon vertex editor is in :mod:`annotator.ui.polygon_tool`).

A stroke edits either the selected instance (one undoable ``set_mask_command``) or the live mask (one undoable
:class:`LiveMaskCommand`). During a stroke the working copy is painted in place and only the touched rectangle is
repainted.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRect

from annotator.core.brush import apply_stroke
from annotator.core.masks import Mask
from annotator.core.undo import set_mask_command
from annotator.ui.canvas import Canvas, Tool
from annotator.ui.controller import SessionController
from annotator.ui.overlay import FILL_ALPHA, color_table


class BrushTool(QObject):
    """Brush (paint) and eraser strokes from the canvas, applied to the selected instance or the live mask."""

    def __init__(self, controller: SessionController, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.controller = controller
        self.canvas = canvas
        self.screen_radius = 12.0  # screen pixels: the same feel at any zoom and image size
        self.editing_instance: int | None = None
        self._working: np.ndarray | None = None
        self._last: tuple[float, float] | None = None
        canvas.stroke_started.connect(self.start)
        canvas.stroke_moved.connect(self.move)
        canvas.stroke_finished.connect(self.finish)
        canvas.set_brush_radius(self.screen_radius)

    @property
    def radius(self) -> float:
        """The radius in image pixels at the current zoom (what a stroke paints)."""
        return self.screen_radius / self.canvas.scale_factor()

    def set_screen_radius(self, radius: float) -> None:
        """The brush radius in screen pixels (1 to 400)."""
        self.screen_radius = float(min(400.0, max(1.0, radius)))
        self.canvas.set_brush_radius(self.screen_radius)

    def resize(self, factor: float) -> None:
        """``[`` / ``]``: brush radius times ``factor`` (screen pixels, 1 to 400)."""
        self.set_screen_radius(self.screen_radius * factor)
        self.controller.status.emit(
            f"Brush radius {self.screen_radius:.0f} screen px ({self.radius:.1f} image px)"
        )

    @property
    def erase(self) -> bool:
        return self.canvas.tool == Tool.ERASER

    def start(self, x: float, y: float) -> None:
        c = self.controller
        image = c.current_image
        if image is None:
            return
        selected = c.selected_instance()
        if selected is not None:
            self.editing_instance = selected.id
            self._working = selected.mask.array().copy()
            color = c.project.category(selected.category_id).color
            table = color_table([color], alpha=FILL_ALPHA + 60)
            c.instances_changed.emit()  # redraw the instance layer without the one being edited
        else:
            live = c.live_mask()
            h, w = image.rgb.shape[:2]
            self._working = live.copy() if live is not None else np.zeros((h, w), bool)
            table = c.live_table()
        self.canvas.live_layer.set_labels(self._working.view(np.uint8), table)
        self._last = (x, y)
        self._paint([(x, y)])

    def move(self, x: float, y: float) -> None:
        if self._working is None or self._last is None:
            return
        self._paint([self._last, (x, y)])
        self._last = (x, y)

    def _paint(self, points: list[tuple[float, float]]) -> None:
        assert self._working is not None
        x, y, w, h = apply_stroke(self._working, points, self.radius, erase=self.erase)
        if w and h:
            self.canvas.live_layer.changed(QRect(x, y, w, h))

    def finish(self) -> None:
        working, self._working, self._last = self._working, None, None
        if working is None:
            return
        c = self.controller
        key = c.current_key
        if key is None:
            return
        text = "Erase" if self.erase else "Paint"
        if self.editing_instance is not None:
            instance_id, self.editing_instance = self.editing_instance, None
            c.undo_stack.push(
                set_mask_command(c.project, key, instance_id, Mask.from_array(working), text=text)
            )
            c.live_changed.emit()
        else:
            c.paint_live_mask(working, f"{text} live mask")
