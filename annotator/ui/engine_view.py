"""The engine in the window: File > Device (device and precision), File > Load checkpoint… and the status-bar
label that says which engine, device and precision are in use.

The choice itself belongs to the session (:class:`~annotator.core.engine_choice.EngineChoice`); this view only
renders it and forwards the menu. After a failed load the menu and label go back to the engine still running.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu

from annotator.workers.requests import EngineInfo, EngineRequest

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {
    "auto": "Precision: auto (bfloat16 only where native)",
    "float32": "Precision: float32",
    "bfloat16": "Precision: bfloat16",
}


class EngineView(QObject):
    """File > Device and the engine label of ``window``; ``device_actions`` / ``dtype_actions`` by name."""

    def __init__(self, window: MainWindow, device_menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.label = QLabel("engine: loading…")
        self.device_actions = self._group(device_menu, {d: d for d in DEVICES}, self.set_device)
        device_menu.addSeparator()
        self.dtype_actions = self._group(device_menu, DTYPES, self.set_dtype)
        client = window.controller.client
        client.engine_ready.connect(self.show_engine)
        client.engine_failed.connect(self.engine_failed)

    def _group(
        self, menu: QMenu, labels: dict[str, str], choose: Callable[[str], None]
    ) -> dict[str, QAction]:
        group = QActionGroup(self)
        actions: dict[str, QAction] = {}
        for name, label in labels.items():
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(name == "auto")
            action.triggered.connect(lambda _checked=False, n=name: choose(n))
            group.addAction(action)
            actions[name] = action
        return actions

    @property
    def request(self) -> EngineRequest:
        return self.window.controller.session.engine.request

    def set_device(self, device: str) -> None:
        """Reload the engine on ``device`` in the worker."""
        self.label.setText(f"engine: loading on {device}…")
        self.window.controller.session.engine.set_device(device)

    def set_dtype(self, dtype: str) -> None:
        """Reload the engine with precision ``dtype`` (``auto``, ``float32`` or ``bfloat16``) in the worker."""
        self.label.setText(f"engine: loading in {dtype}…")
        self.window.controller.session.engine.set_dtype(dtype)

    def show_request(self, request: EngineRequest) -> None:
        """Check the menu entries of ``request`` (device and precision)."""
        self.device_actions.get(request.device, self.device_actions["auto"]).setChecked(True)
        self.dtype_actions.get(request.dtype, self.dtype_actions["auto"]).setChecked(True)

    def load(self, request: EngineRequest) -> None:
        self.show_request(request)
        self.label.setText("engine: loading…")
        self.window.controller.session.engine.load(request)

    def ask_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window,
            "Load checkpoint (SAM, MobileSAM, SAM 2 / 2.1)",
            "",
            "Checkpoints (*.pth *.pt);;All (*)",
        )
        if path:
            self.load(EngineRequest(path, self.request.device, self.request.dtype))

    def show_engine(self, info: EngineInfo) -> None:
        where = Path(info.checkpoint).name if info.checkpoint else "classical (no checkpoint)"
        precision = f" · {info.dtype}" if info.checkpoint else ""
        slow = " (slow on this CPU)" if info.note is not None else ""
        device = info.device if info.runs_on is None else f"{info.runs_on} ({info.device})"
        self.label.setText(f"engine: {where} · {device}{precision}{slow}")
        self.label.setToolTip(info.note or "")
        if info.note is not None:  # stays in the engine label (with the reason as its tooltip) and the log
            self.window.statusBar().showMessage(info.note)
        if info.device in self.device_actions:  # the menu shows the device in use
            self.device_actions[info.device].setChecked(True)

    def engine_failed(self, message: str) -> None:
        """The engine asked for did not load: the menu and label go back to the engine still in use."""
        info = self.window.controller.client.engine
        self.window.controller.session.engine.failed()  # the choice goes back to the engine still running
        if info is not None:
            self.show_request(EngineRequest(info.checkpoint, info.device, info.dtype))
            self.show_engine(info)
        else:
            self.label.setText("engine: none loaded")
        self.window.statusBar().showMessage(message)
        self.window.show_error("Cannot load the engine", message)
