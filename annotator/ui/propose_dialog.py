"""Tools > Propose objects…: which images, and the generator's main parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

SCOPES = ("current", "all", "unproposed")


@dataclass(frozen=True)
class ProposeOptions:
    """``scope``: ``current`` image, ``all`` images or those ``unproposed`` (no proposals yet);
    ``replace_pending``: a new run replaces the undecided proposals; ``params``: generator arguments."""

    scope: str = "current"
    replace_pending: bool = True
    params: dict[str, Any] = field(default_factory=dict)


class ProposeDialog(QDialog):
    """A small modal dialog; :meth:`options` reads the choice."""

    def __init__(self, has_current: bool, uses_sam: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Propose objects")
        self.setObjectName("propose_dialog")
        layout = QVBoxLayout(self)
        self.scope_buttons = {
            "current": QRadioButton("Current image"),
            "all": QRadioButton("All images"),
            "unproposed": QRadioButton("Images without proposals"),
        }
        for scope, button in self.scope_buttons.items():
            button.setObjectName(f"scope_{scope}")
            layout.addWidget(button)
        self.scope_buttons["current"].setEnabled(has_current)
        self.scope_buttons["current" if has_current else "all"].setChecked(True)
        form = QFormLayout()
        self.points = QSpinBox()
        self.points.setRange(4, 64)
        self.points.setValue(32)
        self.points.setEnabled(uses_sam)
        self.points.setToolTip("SAM: grid points per side (more finds smaller objects, slower)")
        self.iou = QDoubleSpinBox()
        self.iou.setRange(0.0, 1.0)
        self.iou.setSingleStep(0.02)
        self.iou.setValue(0.88 if uses_sam else 0.3)
        self.iou.setToolTip("minimum predicted IoU (SAM) or boundary contrast (classical engine)")
        form.addRow("Points per side", self.points)
        form.addRow("Minimum score", self.iou)
        layout.addLayout(form)
        self.replace = QCheckBox("Replace undecided proposals of earlier runs")
        self.replace.setChecked(True)
        layout.addWidget(self.replace)
        self.uses_sam = uses_sam
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def options(self) -> ProposeOptions:
        scope = next(s for s, b in self.scope_buttons.items() if b.isChecked())
        params: dict[str, Any] = {"pred_iou_thresh": round(self.iou.value(), 3)}
        if self.uses_sam:
            params["points_per_side"] = self.points.value()
        return ProposeOptions(scope, self.replace.isChecked(), params)


def ask_propose_options(parent: QWidget, has_current: bool, uses_sam: bool) -> ProposeOptions | None:
    """Show the dialog; ``None`` when cancelled."""
    dialog = ProposeDialog(has_current, uses_sam, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.options()
