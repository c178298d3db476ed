"""Tools > Find similar…: PerSAM or PerSAM-F, the search's limits, and which images to search."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from annotator.core.propagation import PropagationOptions
from sam_model.persam.multi import SearchOptions

SCOPES = ("all", "selected")


@dataclass(frozen=True)
class PropagateChoice:
    """``scope``: ``all`` images or those ``selected`` in the file list; ``options``: how to search."""

    scope: str
    options: PropagationOptions


class PropagateDialog(QDialog):
    """A small modal dialog; :meth:`choice` reads it. Defaults come from :class:`PropagationOptions`."""

    def __init__(
        self, reference: str, scope: str, selected_count: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find similar objects")
        self.setObjectName("propagate_dialog")
        defaults = PropagationOptions()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Reference: {reference}"))
        method = QGroupBox("Method")
        method_layout = QVBoxLayout(method)
        self.persam = QRadioButton("PerSAM (training-free)")
        self.persam.setObjectName("method_persam")
        self.persam_f = QRadioButton(f"PerSAM-F (fine-tune on the reference, {defaults.fit_steps} steps)")
        self.persam_f.setObjectName("method_persam_f")
        (self.persam_f if defaults.fine_tune else self.persam).setChecked(True)
        method_layout.addWidget(self.persam)
        method_layout.addWidget(self.persam_f)
        layout.addWidget(method)

        form = QFormLayout()
        self.max_instances = QSpinBox()
        self.max_instances.setObjectName("max_instances")
        self.max_instances.setRange(1, 100)
        self.max_instances.setValue(defaults.search.max_instances)
        self.max_instances.setToolTip("at most this many objects per image")
        self.min_similarity = QDoubleSpinBox()
        self.min_similarity.setObjectName("min_similarity")
        self.min_similarity.setRange(-1.0, 1.0)
        self.min_similarity.setSingleStep(0.05)
        self.min_similarity.setDecimals(2)
        self.min_similarity.setValue(defaults.search.min_similarity)
        self.min_similarity.setToolTip(
            "stop searching an image when the best remaining pixel's similarity to the reference "
            "(cosine, -1 … 1) is below this"
        )
        form.addRow("Max objects per image", self.max_instances)
        form.addRow("Min similarity", self.min_similarity)
        layout.addLayout(form)

        target = QGroupBox("Search in")
        target_layout = QVBoxLayout(target)
        self.scope_buttons = {
            "all": QRadioButton("All images"),
            "selected": QRadioButton(f"Images selected in the file list ({selected_count})"),
        }
        for name, button in self.scope_buttons.items():
            button.setObjectName(f"scope_{name}")
            target_layout.addWidget(button)
        self.scope_buttons["selected"].setEnabled(selected_count > 0)
        self.scope_buttons[scope if scope in SCOPES and selected_count > 0 else "all"].setChecked(True)
        layout.addWidget(target)
        note = QLabel("Results go to the review queue (R) as proposals; nothing is annotated until accepted.")
        note.setWordWrap(True)
        layout.addWidget(note)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Find")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def choice(self) -> PropagateChoice:
        """The options as chosen (the remaining search settings keep their defaults)."""
        scope = next(s for s, b in self.scope_buttons.items() if b.isChecked())
        search = SearchOptions(
            max_instances=self.max_instances.value(), min_similarity=round(self.min_similarity.value(), 3)
        )
        return PropagateChoice(scope, PropagationOptions(fine_tune=self.persam_f.isChecked(), search=search))


def ask_propagate_choice(
    parent: QWidget, reference: str, scope: str, selected_count: int
) -> PropagateChoice | None:
    """Show the dialog with ``scope`` preselected; ``None`` when cancelled."""
    dialog = PropagateDialog(reference, scope, selected_count, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.choice()
