"""The polygon toolbar's tolerance slider and its label, kept in step with the polygon tool.

The label follows a drag at once; the tolerance applies on release, or at once for a click on the groove or a
key. A simplification, its undo or redo moves the slider back (the tool's ``tolerance_changed``).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSignalBlocker, Qt
from PySide6.QtWidgets import QLabel, QSlider, QToolBar

from annotator.ui.polygon_tool import PolygonTool


class ToleranceControl(QObject):
    """The slider (half pixels, 0..20 px) and its label, added to ``toolbar``."""

    def __init__(self, polygon: PolygonTool, toolbar: QToolBar) -> None:
        super().__init__(toolbar)
        self.polygon = polygon
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 40)  # half pixels
        self.slider.setValue(int(polygon.tolerance * 2))
        self.slider.setFixedWidth(160)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.label = QLabel(f" {polygon.tolerance:.1f} px ")
        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderReleased.connect(lambda: polygon.set_tolerance(self.slider.value() / 2))
        polygon.tolerance_changed.connect(self.show_tolerance)
        toolbar.addWidget(QLabel(" Polygon tolerance "))
        toolbar.addWidget(self.slider)
        toolbar.addWidget(self.label)

    def _on_value(self, value: int) -> None:
        self.label.setText(f" {value / 2:.1f} px ")
        if not self.slider.isSliderDown():
            self.polygon.set_tolerance(value / 2)

    def show_tolerance(self, tolerance: float) -> None:
        """The tool's tolerance changed (a simplification, its undo or redo): slider and label follow."""
        blocker = QSignalBlocker(self.slider)
        self.slider.setValue(round(tolerance * 2))
        del blocker
        self.label.setText(f" {tolerance:.1f} px ")
