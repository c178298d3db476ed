"""The image canvas: a QGraphicsView showing the image, the instance and live mask layers and the prompts.

It holds view state only (zoom, pan, the current tool). User gestures are turned into signals in image pixel
coordinates; the session controller decides what they mean for the annotations.

Mouse: left click = positive point (or, decided by the controller, selection of the object under it), Alt+click
= cycle the selection through the objects under the pointer, right click or Shift+click = negative point,
left drag = box; middle drag or Space + left drag = pan; wheel = zoom around the cursor. In brush/eraser mode a
left drag paints.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QRegion,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from annotator.ui.hover_layer import HoverLayerItem
from annotator.ui.outlines import InstanceOutlinesItem
from annotator.ui.overlay import MaskLayerItem, OutlineItem, PromptItem

DRAG_THRESHOLD = 5  # screen pixels a press must move to become a box drag


class Tool(enum.Enum):
    """What a left drag does on the canvas."""

    PROMPT = "prompt"
    BRUSH = "brush"
    ERASER = "eraser"
    POLYGON = "polygon"


class Canvas(QGraphicsView):
    """Image view with zoom/pan and prompt gestures.

    Signals (image pixel coordinates):
        point_clicked(float x, float y, int label): a click, label 1 positive / 0 negative.
        alt_clicked(float x, float y): an Alt+left click (select the next object under the pointer).
        hovered(float x, float y): the pointer moved over the image with no button pressed (prompt tool).
        hover_left(): the pointer left the view, or a button was pressed.
        box_drawn(float x0, float y0, float x1, float y1): a left drag in prompt mode.
        stroke_started(float x, float y), stroke_moved(float x, float y), stroke_finished(): brush/eraser.
        painted(): emitted after each paint of the viewport (benchmarks measure click-to-paint latency).
    """

    point_clicked = Signal(float, float, int)
    alt_clicked = Signal(float, float)
    hovered = Signal(float, float)
    hover_left = Signal()
    box_drawn = Signal(float, float, float, float)
    stroke_started = Signal(float, float)
    stroke_moved = Signal(float, float)
    stroke_finished = Signal()
    painted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paint_region: QRegion | None = None  # the area of the paint event under way (see paintEvent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setBackgroundBrush(QBrush(QColor(38, 38, 42)))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        # The scene is wider than the image (see _fit_scene_rect): scroll bars would only mislead.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.instances_layer = MaskLayerItem()
        self.instance_outlines = InstanceOutlinesItem()
        self.live_layer = MaskLayerItem()
        self.hover_layer = HoverLayerItem()  # the hover preview (its edge included), under the live mask
        self.live_outline = OutlineItem()
        self.prompt_item = PromptItem()
        self._rubber = QGraphicsRectItem()
        pen = QPen(QColor(255, 215, 0), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._rubber.setPen(pen)
        self._rubber.setVisible(False)
        self.brush_cursor = QGraphicsEllipseItem()
        cursor_pen = QPen(QColor(255, 255, 255), 1.5)
        cursor_pen.setCosmetic(True)
        self.brush_cursor.setPen(cursor_pen)
        self.brush_cursor.setVisible(False)
        for z, item in enumerate(
            (
                self.image_item,
                self.instances_layer,
                self.instance_outlines,
                self.live_layer,
                self.live_outline,
                self.prompt_item,
                self._rubber,
            )
        ):
            item.setZValue(z)
            self.scene().addItem(item)
        self.hover_layer.setZValue(self.live_layer.zValue() - 0.5)
        self.scene().addItem(self.hover_layer)
        self.brush_cursor.setZValue(100)
        self.scene().addItem(self.brush_cursor)

        self.tool = Tool.PROMPT
        self.brush_radius = 12.0  # screen pixels
        self._press_pos: QPointF | None = None
        self._press_button = Qt.MouseButton.NoButton
        self._pan_last: QPointF | None = None
        self._space_down = False
        self._dragging_box = False
        self._stroking = False
        self._image_rect = QRectF()

    # --- content ----------------------------------------------------------------------------------------
    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        """Show a new image (or none) and fit it to the window; layers are cleared by the caller."""
        self.image_item.setPixmap(pixmap if pixmap is not None else QPixmap())
        self._image_rect = QRectF(0, 0, pixmap.width(), pixmap.height()) if pixmap is not None else QRectF()
        self.scene().setSceneRect(self._image_rect)
        self.fit()

    @property
    def has_image(self) -> bool:
        return not self._image_rect.isEmpty()

    # --- view -------------------------------------------------------------------------------------------
    def fit(self) -> None:
        """Fit the whole image in the window."""
        if self.has_image:
            self.fitInView(self._image_rect, Qt.AspectRatioMode.KeepAspectRatio)
            self._fit_scene_rect()
            self.centerOn(self._image_rect.center())
            self._update_brush_cursor(None)

    def zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping ``anchor`` (viewport pixels; default: centre) still; clamped.

        The scene rectangle is widened around the image (``_fit_scene_rect``) so the view can always be
        translated: the point under the pointer stays put even when the fitted image is smaller than the view.
        """
        current = self.transform().m11()
        factor = max(0.02 / current, min(64.0 / current, factor))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        before = self.mapToScene(anchor.toPoint())
        old_anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        self._fit_scene_rect()
        self.setTransformationAnchor(old_anchor)
        # Scroll so that ``before`` is again under ``anchor`` (scroll bars move in whole pixels: the error is
        # below one screen pixel).
        now = self.mapFromScene(before)
        delta = QPointF(now) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(delta.y()))
        self._update_brush_cursor(None)

    def _fit_scene_rect(self) -> None:
        """A scene rectangle of the image plus one view size on every side, so panning and anchored zoom work
        at any scale (QGraphicsView otherwise centres a scene smaller than the view and ignores scrolling)."""
        if not self.has_image:
            return
        scale = self.scale_factor()
        margin_x = self.viewport().width() / scale
        margin_y = self.viewport().height() / scale
        self.setSceneRect(self._image_rect.adjusted(-margin_x, -margin_y, margin_x, margin_y))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_scene_rect()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            return
        self.zoom(1.0015**delta, event.position())
        event.accept()

    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self.brush_cursor.setVisible(tool in (Tool.BRUSH, Tool.ERASER))
        self._update_brush_cursor(None)

    def set_brush_radius(self, radius: float) -> None:
        """The brush circle's radius in screen pixels (the cursor keeps that size at any zoom)."""
        self.brush_radius = radius
        self._update_brush_cursor(None)

    def scale_factor(self) -> float:
        """Screen pixels per image pixel at the current zoom."""
        return max(self.transform().m11(), 1e-6)

    def _update_brush_cursor(self, pos: QPointF | None) -> None:
        center = pos if pos is not None else self.brush_cursor.rect().center()
        r = self.brush_radius / self.scale_factor()
        self.brush_cursor.setRect(QRectF(center.x() - r, center.y() - r, 2 * r, 2 * r))

    def to_image(self, viewport_pos: QPointF) -> QPointF:
        """Viewport pixel -> image pixel coordinates (``x`` = column, ``y`` = row)."""
        return self.mapToScene(viewport_pos.toPoint())

    # --- gestures ---------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hover_left.emit()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._pan_last = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if not self.has_image:
            return
        pos = self.to_image(event.position())
        if self.tool in (Tool.BRUSH, Tool.ERASER) and button == Qt.MouseButton.LeftButton:
            self._stroking = True
            self.stroke_started.emit(pos.x(), pos.y())
            event.accept()
            return
        if self.tool == Tool.POLYGON:
            super().mousePressEvent(event)  # the polygon editor's items handle it
            return
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._press_pos = event.position()
            self._press_button = button
            self._dragging_box = False
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_last is not None:
            delta = event.position() - self._pan_last
            self._pan_last = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            event.accept()
            return
        pos = self.to_image(event.position())
        if self.brush_cursor.isVisible():
            self._update_brush_cursor(pos)
        if self._stroking:
            self.stroke_moved.emit(pos.x(), pos.y())
            event.accept()
            return
        if self._press_pos is not None and self._press_button == Qt.MouseButton.LeftButton:
            moved = (event.position() - self._press_pos).manhattanLength()
            if moved >= DRAG_THRESHOLD:
                self._dragging_box = True
            if self._dragging_box:
                start = self.to_image(self._press_pos)
                self._rubber.setRect(QRectF(start, pos).normalized())
                self._rubber.setVisible(True)
            event.accept()
            return
        if self.tool == Tool.PROMPT and event.buttons() == Qt.MouseButton.NoButton and not self._space_down:
            self.hovered.emit(pos.x(), pos.y())
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.hover_left.emit()
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_last is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_last = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.ArrowCursor
            )
            event.accept()
            return
        if self._stroking and event.button() == Qt.MouseButton.LeftButton:
            self._stroking = False
            self.stroke_finished.emit()
            event.accept()
            return
        if self._press_pos is not None and event.button() == self._press_button:
            start = self.to_image(self._press_pos)
            end = self.to_image(event.position())
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            if self._dragging_box:
                self._rubber.setVisible(False)
                self.box_drawn.emit(start.x(), start.y(), end.x(), end.y())
            else:
                label = 0 if (self._press_button == Qt.MouseButton.RightButton or shift) else 1
                alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
                if self._image_rect.contains(start):
                    if alt and label == 1:
                        self.alt_clicked.emit(start.x(), start.y())
                    else:
                        self.point_clicked.emit(start.x(), start.y(), label)
            self._press_pos = None
            self._dragging_box = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.paint_region = event.region()  # exact area being repainted (items with many paths cull by it)
        super().paintEvent(event)
        self.painted.emit()
