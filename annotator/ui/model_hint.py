"""First start without a model: a dismissible banner (not a dialog) saying that one download gives much better
masks than the built-in engine, offering the small models first (MobileSAM, SAM 2.1 tiny).

It is shown once: the settings remember it (key ``model_hint_shown``) as soon as it is shown, so a user who
ignores it is not asked again. A download button opens Settings > Models with that model selected and its
download started (in the background, with progress and Cancel there).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QToolBar

from annotator.core.model_catalog import recommended_models
from annotator.core.settings import Settings, save_settings

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow
    from annotator.ui.models_dialog import ModelsDialog

log = logging.getLogger(__name__)

HINT_SHOWN_KEY = "model_hint_shown"
HINT_TEXT = (
    "No model is configured: the built-in classical engine is in use. One download gives much better masks."
)


class ModelHintBanner(QToolBar):
    """The banner: the message, one button per recommended model, "All models…" and a close button."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__("Get a model", window)
        self.setObjectName("model_hint")
        self.setMovable(False)
        self.setFloatable(False)
        self.window_ = window
        self.label = QLabel(HINT_TEXT)
        self.label.setContentsMargins(6, 0, 6, 0)
        self.addWidget(self.label)
        self.download_actions: dict[str, QAction] = {}
        for model in recommended_models():
            action = self.addAction(f"Download {model.family} ({model.approx_size})")
            action.setToolTip(model.good_for)
            action.triggered.connect(lambda _checked=False, name=model.name: self.download(name))
            self.download_actions[model.name] = action
        self.all_action = self.addAction("All models…")
        self.all_action.triggered.connect(self.open_models)
        self.close_action = self.addAction("✕")
        self.close_action.setToolTip("Hide this message (Settings > Models… offers the models any time)")
        self.close_action.triggered.connect(self.dismiss)

    def download(self, name: str) -> None:
        """Open Settings > Models with ``name`` selected and its download started; hide the banner."""
        dialog = self.open_models()
        if dialog is not None:
            dialog.select(name)
            dialog.start_download(name)

    def open_models(self) -> ModelsDialog | None:
        """Open Settings > Models (and hide the banner)."""
        from annotator.ui.models_dialog import open_models_dialog

        self.dismiss()
        return open_models_dialog(self.window_)

    def dismiss(self) -> None:
        self.hide()
        self.window_.removeToolBar(self)
        self.deleteLater()


def maybe_show_model_hint(
    window: MainWindow, settings: Settings, checkpoint: str | None
) -> ModelHintBanner | None:
    """Show the banner when no checkpoint is in use and it was never shown; remember that it was shown."""
    if checkpoint is not None or settings.checkpoint is not None or settings.extra.get(HINT_SHOWN_KEY):
        return None
    banner = ModelHintBanner(window)
    window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, banner)
    settings.extra[HINT_SHOWN_KEY] = True
    try:
        save_settings(settings)
    except OSError as exc:  # shown again next time: better than never
        log.warning("cannot remember that the model hint was shown: %s", exc)
    return banner
