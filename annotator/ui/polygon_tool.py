"""The polygon vertex editor: the selected instance as polygons (holes kept), vertex edits turned into mask edits.

Each edit is one undoable ``set_mask_command`` wrapped with the tool's state on both sides, so undo and redo bring
back the vertices (and the tolerance slider) exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QGraphicsSceneMouseEvent
from shapely.geometry import MultiPolygon, Polygon

from annotator.core.geometry import (
    coco_polygons_to_mask,
    geometry_to_coco_polygons,
    geometry_to_mask,
    mask_to_geometry,
    simplify_geometry,
)
from annotator.core.masks import Mask
from annotator.core.undo import UndoCommand, set_mask_command
from annotator.ui.canvas import Canvas
from annotator.ui.controller import SessionController


class VertexHandle(QGraphicsEllipseItem):
    """A draggable polygon vertex (constant size on screen)."""

    SIZE = 9.0

    def __init__(self, tool: PolygonTool, ring: tuple[int, int], index: int, pos: QPointF) -> None:
        half = self.SIZE / 2
        super().__init__(QRectF(-half, -half, self.SIZE, self.SIZE))
        self.tool, self.ring, self.index = tool, ring, index
        self.setPos(pos)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges, True)
        self.setBrush(QColor(255, 255, 255))
        self.setPen(QPen(QColor(20, 20, 20), 1.5))
        self.setZValue(20)
        self.setCursor(Qt.CursorShape.SizeAllCursor)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self.tool.remove_vertex(self)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseMoveEvent(event)
        self.tool.vertex_moved(self)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self.tool.commit("Move vertex")


class _OutlineItem(QGraphicsPathItem):
    """The polygon outline; a double-click on an edge inserts a vertex there."""

    def __init__(self, tool: PolygonTool) -> None:
        super().__init__()
        self.tool = tool
        pen = QPen(QColor(255, 255, 255), 2)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(19)

    def shape(self) -> QPainterPath:
        stroker_path = QPainterPath()
        stroker_path.addPath(self.path())
        from PySide6.QtGui import QPainterPathStroker

        stroker = QPainterPathStroker()
        scale = self.scene().views()[0].transform().m11() if self.scene() and self.scene().views() else 1.0
        stroker.setWidth(10.0 / max(scale, 1e-6))
        return stroker.createStroke(stroker_path)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.tool.insert_vertex(event.scenePos())
        event.accept()


Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class PolygonState:
    """What the polygon tool shows for one mask: its rings as edited, the trace they came from, the tolerance."""

    instance_id: int
    mask: Mask
    rings: tuple[tuple[tuple[int, int], tuple[tuple[float, float], ...]], ...]
    trace: MultiPolygon | None
    edited: bool
    tolerance: float


class PolygonEditCommand(UndoCommand):
    """A polygon edit: the mask change plus the tool's state on both sides, so undo and redo bring back the
    vertices exactly as they were (not a new trace of the mask) and the tolerance slider with them."""

    def __init__(
        self,
        edit: UndoCommand,
        restore: Callable[[PolygonState], None],
        before: PolygonState,
        after: PolygonState,
    ) -> None:
        self.edit, self.restore, self.before, self.after = edit, restore, before, after
        self.text = edit.text

    @property
    def image_key(self) -> str | None:  # type: ignore[override]
        return self.edit.image_key

    def redo(self) -> None:
        self.edit.redo()
        self.restore(self.after)

    def undo(self) -> None:
        self.edit.undo()
        self.restore(self.before)


class PolygonTool(QObject):
    """Shows the selected instance as polygons (holes kept) and turns vertex edits into mask edits.

    ``rings[(p, 0)]`` is polygon ``p``'s exterior, ``rings[(p, k)]`` its ``k``-th hole, in pixel-edge
    coordinates. The tolerance (pixels) simplifies the polygons traced from the mask when editing starts; changing
    it later simplifies the shape as edited (vertex edits are kept; without edits, from the trace, so a smaller
    tolerance brings vertices back) and updates the mask as one undo step that also restores the tolerance.

    Signals: tolerance_changed(float): the tolerance changed (the slider follows, also on undo/redo).
    """

    tolerance_changed = Signal(float)

    def __init__(self, controller: SessionController, canvas: Canvas) -> None:
        super().__init__(canvas)
        self.controller = controller
        self.canvas = canvas
        self.active = False
        self.tolerance = 1.0
        self.rings: dict[tuple[int, int], Ring] = {}
        self.handles: list[VertexHandle] = []
        self._outline = _OutlineItem(self)
        self._outline.setVisible(False)
        canvas.scene().addItem(self._outline)
        self._instance_id: int | None = None
        self._trace: MultiPolygon | None = None
        self._applied: Mask | None = None
        self._edited = False  # vertex edits since the trace
        self._committed: PolygonState | None = None  # the tool's state matching the instance's mask
        controller.selection_changed.connect(lambda _id: self.refresh())

    def set_active(self, active: bool) -> None:
        self.active = active
        self.refresh()

    def set_tolerance(self, tolerance: float) -> None:
        """Simplify the edited outline with ``tolerance`` pixels and update the mask (one undoable step)."""
        before, after = self.tolerance, max(0.0, float(tolerance))
        if after == before:
            return
        self._show_tolerance(after)
        if self._trace is not None:
            base = self.geometry() if self._edited else self._trace
            self._set_geometry(simplify_geometry(base, after))
            self.commit("Simplify polygon", tolerance=(before, after))

    def _show_tolerance(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.tolerance_changed.emit(tolerance)

    def refresh(self) -> None:
        """Rebuild the handles from the selected instance (kept when its mask is our own last edit)."""
        instance = self.controller.selected_instance() if self.active else None
        if instance is None:
            self._instance_id, self._trace, self._applied, self._committed = None, None, None, None
            self._clear()
            return
        if instance.id == self._instance_id and self._applied is not None and instance.mask == self._applied:
            return
        self._instance_id = instance.id
        self._edited = False
        self._trace = mask_to_geometry(instance.mask.array())
        self._applied = instance.mask
        self._set_geometry(simplify_geometry(self._trace, self.tolerance))
        self._committed = self._state(instance.mask)

    def _state(self, mask: Mask) -> PolygonState:
        if self._instance_id is None:
            raise RuntimeError("the polygon tool has no instance")
        rings = tuple((ring_id, tuple(ring)) for ring_id, ring in self.rings.items())
        return PolygonState(self._instance_id, mask, rings, self._trace, self._edited, self.tolerance)

    def _restore(self, state: PolygonState) -> None:
        """After an undo/redo: show ``state`` if its instance, with that mask, is the one being edited."""
        if state.tolerance != self.tolerance:
            self._show_tolerance(state.tolerance)
        instance = self.controller.selected_instance() if self.active else None
        if instance is None or instance.id != state.instance_id or instance.mask != state.mask:
            return
        self._instance_id, self._applied = state.instance_id, state.mask
        self._trace, self._edited = state.trace, state.edited
        self.rings = {ring_id: list(ring) for ring_id, ring in state.rings}
        self._committed = state
        self._rebuild_items()

    def geometry(self) -> MultiPolygon:
        """The edited polygons as a shapely ``MultiPolygon`` with holes."""
        polygons = []
        for (p, k), ring in self.rings.items():
            if k == 0 and len(ring) >= 3:
                holes = [
                    self.rings[(q, j)]
                    for (q, j) in self.rings
                    if q == p and j > 0 and len(self.rings[(q, j)]) >= 3
                ]
                polygons.append(Polygon(ring, holes))
        return MultiPolygon(polygons)

    def _set_geometry(self, geometry: MultiPolygon) -> None:
        self.rings = {}
        for p, polygon in enumerate(geometry.geoms):
            self.rings[(p, 0)] = [(float(x), float(y)) for x, y in list(polygon.exterior.coords)[:-1]]
            for k, hole in enumerate(polygon.interiors, start=1):
                self.rings[(p, k)] = [(float(x), float(y)) for x, y in list(hole.coords)[:-1]]
        self._rebuild_items()

    def _clear(self) -> None:
        scene = self.canvas.scene()
        for handle in self.handles:
            scene.removeItem(handle)
        self.handles = []
        self._outline.setVisible(False)

    def _rebuild_items(self) -> None:
        self._clear()
        for ring_id, ring in self.rings.items():
            for i, (x, y) in enumerate(ring):
                handle = VertexHandle(self, ring_id, i, QPointF(x, y))
                self.canvas.scene().addItem(handle)
                self.handles.append(handle)
        self._update_outline()
        self._outline.setVisible(True)

    def _update_outline(self) -> None:
        path = QPainterPath()
        for ring in self.rings.values():
            if len(ring) < 2:
                continue
            path.moveTo(*ring[0])
            for x, y in ring[1:]:
                path.lineTo(x, y)
            path.closeSubpath()
        self._outline.setPath(path)

    def vertex_moved(self, handle: VertexHandle) -> None:
        pos = handle.pos()
        self.rings[handle.ring][handle.index] = (pos.x(), pos.y())
        self._update_outline()

    def remove_vertex(self, handle: VertexHandle) -> None:
        ring = self.rings[handle.ring]
        if len(ring) <= 3:
            self.controller.status.emit("A polygon needs at least 3 vertices")
            return
        del ring[handle.index]
        self._rebuild_items()
        self.commit("Remove vertex")

    def insert_vertex(self, at: QPointF) -> None:
        """Insert a vertex on the edge nearest to ``at`` (scene = image pixel coordinates)."""
        best: tuple[float, tuple[int, int], int] | None = None
        p = np.array([at.x(), at.y()])
        for ring_id, ring in self.rings.items():
            pts = np.asarray(ring)
            nxt = np.roll(pts, -1, axis=0)
            seg = nxt - pts
            t = np.clip(((p - pts) * seg).sum(1) / np.maximum((seg**2).sum(1), 1e-9), 0, 1)
            dist = np.linalg.norm(pts + seg * t[:, None] - p, axis=1)
            i = int(np.argmin(dist))
            if best is None or dist[i] < best[0]:
                best = (float(dist[i]), ring_id, i + 1)
        if best is None:
            return
        _, ring_id, index = best
        self.rings[ring_id].insert(index, (at.x(), at.y()))
        self._rebuild_items()
        self.commit("Add vertex")

    def commit(self, text: str, tolerance: tuple[float, float] | None = None) -> None:
        """Rasterise the polygons into the instance's mask (one undoable step; ``tolerance``: before/after of
        a simplification, restored with it on undo/redo)."""
        c = self.controller
        if self._instance_id is None or c.current_key is None or c.current_image is None:
            return
        h, w = c.current_image.rgb.shape[:2]
        geometry = self.geometry()
        mask = geometry_to_mask(geometry, h, w)
        if not mask.any():
            c.status.emit("The polygon edit would leave an empty mask: ignored")
            if self._committed is not None:
                self.rings = {ring_id: list(ring) for ring_id, ring in self._committed.rings}
                self._rebuild_items()
            return
        coco = geometry_to_coco_polygons(geometry)
        exact = coco is not None and bool(coco) and np.array_equal(coco_polygons_to_mask(coco, h, w), mask)
        polygons = tuple(tuple(r) for r in coco) if exact and coco else None
        new = Mask.from_array(mask)
        before = self._committed
        if tolerance is None:
            self._edited = True
        elif before is not None:
            before = replace(before, tolerance=tolerance[0])
        self._applied = new
        after = self._committed = self._state(new)
        command = set_mask_command(c.project, c.current_key, self._instance_id, new, polygons, text=text)
        if before is None:
            c.undo_stack.push(command)
        else:
            c.undo_stack.push(PolygonEditCommand(command, self._restore, before, after))
