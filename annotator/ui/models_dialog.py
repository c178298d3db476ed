"""Settings > Models…: official and own checkpoints, background downloads, the engine in use, the cache.

The dialog shows what :class:`~annotator.core.model_manager.ModelManager` knows (SAM, MobileSAM, SAM 2 / 2.1,
with size and what each is good for) and turns buttons into its calls; downloads run in a
:class:`~annotator.workers.download_worker.DownloadTask` thread, and adding or verifying a checkpoint (hashing
it, loading it to tell its architecture) in a :class:`~annotator.workers.background.BackgroundTask` thread, so
the window stays responsive. Errors are shown in the dialog's message line (file and reason), never as a
traceback. "Use" stores the choice in the settings
(the next start uses it) and emits ``engine_selected(checkpoint)`` for the window to reload the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.core.embedding_cache import EmbeddingCache
from annotator.core.errors import CoreError
from annotator.core.model_manager import ModelInfo, ModelManager, VerifyReport
from annotator.core.settings import CustomModel
from annotator.workers.background import BackgroundTask, TaskError
from annotator.workers.download_worker import DownloadProgress, DownloadTask

COLUMNS = ("Model", "Type", "Status", "Size", "Verified", "In use", "Good for")


def _mb(size: int | None) -> str:
    return "?" if size is None else f"{size / 2**20:,.1f} MB"


def _status(info: ModelInfo) -> str:
    if info.installed:
        return "installed"
    if info.partial_bytes:
        return f"partial ({_mb(info.partial_bytes)}): Download resumes"
    return "not installed" if info.official else "file missing"


class ModelsDialog(QDialog):
    """Lists the models; Download (with progress and Cancel), Add checkpoint file…, Use, Clear cache.

    Signals:
        engine_selected(object): the checkpoint path (``str``) to load now, ``None`` for the classical engine.
        message_shown(str): the text of the message line (errors name the file and the reason).
        check_finished(bool): an Add or Verify running in the background ended (``True``: it succeeded).
    """

    engine_selected = Signal(object)
    message_shown = Signal(str)
    check_finished = Signal(bool)

    def __init__(
        self, manager: ModelManager, cache: EmbeddingCache | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.manager = manager
        self.cache = cache
        self.task: DownloadTask | None = None
        self.check: BackgroundTask | None = None
        self._check_ok = False
        self._rows: list[ModelInfo] = []

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.download_button = QPushButton("&Download")
        self.cancel_button = QPushButton("&Cancel download")
        self.add_button = QPushButton("&Add checkpoint file…")
        self.use_button = QPushButton("&Use")
        self.classic_button = QPushButton("Use c&lassical engine")
        self.verify_button = QPushButton("&Verify")
        self.clear_cache_button = QPushButton("Clear embedding c&ache")
        self.close_button = QPushButton("Close")
        self.download_button.clicked.connect(lambda: self.start_download(self.selected_name()))
        self.cancel_button.clicked.connect(self.cancel_download)
        self.add_button.clicked.connect(self.ask_add)
        self.use_button.clicked.connect(lambda: self.use(self.selected_name()))
        self.classic_button.clicked.connect(lambda: self.use("classic"))
        self.verify_button.clicked.connect(lambda: self.verify(self.selected_name()))
        self.clear_cache_button.clicked.connect(self.clear_cache)
        self.close_button.clicked.connect(self.close)

        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button, self.verify_button, self.use_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        more = QHBoxLayout()
        for button in (self.add_button, self.classic_button, self.clear_cache_button):
            more.addWidget(button)
        more.addStretch(1)
        more.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addLayout(more)
        self.resize(1000, 420)
        self.refresh()

    # --- list -----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the model list (installed, sizes, recorded verification) and the cache size."""
        selected = self.selected_name()
        self._rows = self.manager.list_models()
        self.table.setRowCount(len(self._rows))
        for row, info in enumerate(self._rows):
            size = info.size_bytes if info.installed else info.expected_bytes
            verified = {True: "yes", False: "NO (checksum differs)", None: "not checked"}[info.verified]
            size_text = _mb(size) if size else (info.approx_size or "?")
            kind = info.family or f"own ({info.preset})"
            cells = (
                info.name,
                kind,
                _status(info),
                size_text,
                verified,
                "●" if info.active else "",
                info.good_for,
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(info.path))
                self.table.setItem(row, col, item)
            if info.name == selected:
                self.table.selectRow(row)
        if self.cache is not None:
            stats = self.cache.stats()
            self.clear_cache_button.setToolTip(
                f"{stats.directory}: {stats.entries} embeddings, {_mb(stats.total_bytes)}"
                f" of {_mb(stats.max_bytes)}"
            )
        self.clear_cache_button.setEnabled(self.cache is not None)
        self._update_buttons()

    def row(self, name: str) -> ModelInfo | None:
        return next((info for info in self._rows if info.name == name), None)

    def select(self, name: str) -> None:
        for row, info in enumerate(self._rows):
            if info.name == name:
                self.table.selectRow(row)

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._rows[rows[0].row()].name if rows and rows[0].row() < len(self._rows) else None

    def _update_buttons(self) -> None:
        info = self.row(self.selected_name() or "")
        busy = self.task is not None
        checking = self.check is not None
        self.download_button.setEnabled(
            not busy and info is not None and info.official and not (info.installed and info.verified)
        )
        self.cancel_button.setEnabled(busy)
        self.use_button.setEnabled(not checking and info is not None and info.installed)
        self.verify_button.setEnabled(not busy and not checking and info is not None and info.installed)
        self.add_button.setEnabled(not checking)

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)
        self.message_shown.emit(text)

    # --- download -------------------------------------------------------------------------------------
    def start_download(self, name: str | None) -> None:
        """Download the official model ``name`` in the background (resumes a partial file)."""
        if name is None or self.task is not None:
            return
        task = DownloadTask(self.manager, name, parent=self)
        self.task = task
        task.progress.connect(self._on_progress)
        task.finished.connect(self._on_finished)
        task.failed.connect(self._on_failed)
        task.cancelled.connect(self._on_cancelled)
        task.done.connect(self._on_task_done)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        if task.resumed_from:
            self.show_message(f"Resuming {name} from {_mb(task.resumed_from)}…")
        else:
            self.show_message(f"Downloading {name}…")
        self._update_buttons()

    def cancel_download(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.show_message(f"Cancelling {self.task.name}…")

    @Slot(object)
    def _on_progress(self, p: DownloadProgress) -> None:
        if p.total:
            scale = 1024  # QProgressBar holds 32-bit ints: count KiB
            self.progress.setRange(0, max(1, p.total // scale))
            self.progress.setValue(p.done // scale)
        verb = "Resuming" if p.resumed_from else "Downloading"
        self.show_message(f"{verb} {p.name}: {_mb(p.done)} of {_mb(p.total)}")

    @Slot(str, str)
    def _on_finished(self, name: str, path: str) -> None:
        self.show_message(f"{name} installed and verified: {path}")

    @Slot(str, str)
    def _on_failed(self, name: str, message: str) -> None:
        self.show_message(f"Download of {name} failed: {message}", error=True)

    @Slot(str)
    def _on_cancelled(self, name: str) -> None:
        self.show_message(f"Download of {name} cancelled; Download resumes it.")

    @Slot()
    def _on_task_done(self) -> None:
        if self.task is not None:
            self.task.deleteLater()
        self.task = None
        self.progress.setVisible(False)
        self.refresh()

    # --- own checkpoints, verification, selection ----------------------------------------------------
    def ask_add(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self, "Add SAM checkpoint", "", "Checkpoints (*.pth *.pt);;All (*)"
        )
        if path:
            self.add(Path(path))

    def add(self, path: Path) -> bool:
        """Register ``path`` as a custom checkpoint in the background (hashed, architecture detected);
        returns whether the check started. ``check_finished`` says how it ended; errors name the file."""
        if self.check is not None:
            return False
        self.show_message(f"Checking {path}…")
        return self._run_check(lambda: self.manager.add(path), f"adding {path}", self._on_added)

    def verify(self, name: str | None) -> bool:
        """Checksum and identify the installed model ``name`` in the background; returns whether it started."""
        info = self.row(name or "")
        if info is None or self.check is not None:
            return False
        self.show_message(f"Verifying {info.path}…")
        return self._run_check(
            lambda: self.manager.verify(info.path),
            f"verifying {info.path}",
            lambda r: self._on_verified(info, r),
        )

    def _run_check(self, function: Callable[[], Any], label: str, on_success: Callable[[Any], None]) -> bool:
        check = BackgroundTask(
            lambda _context: function(), label=label, thread_name="models-check", parent=self
        )
        self.check = check
        check.returned.connect(on_success)
        check.errored.connect(lambda error: self._on_check_failed(label, error))
        check.finished.connect(self._on_check_done)
        check.start()
        self._update_buttons()
        return True

    def _on_added(self, model: CustomModel) -> None:
        self.refresh()
        self.select(model.name)
        self.show_message(f"Added {model.name} ({model.preset}) from {model.path}")
        self._check_ok = True

    def _on_verified(self, info: ModelInfo, report: VerifyReport) -> None:
        self.refresh()
        if report.problem is not None:
            self.show_message(f"{info.path}: {report.problem}", error=True)
        elif info.official and report.official != info.name:
            self.show_message(f"{info.path}: checksum differs from the official {info.name}", error=True)
        else:
            self.show_message(f"{info.path}: OK ({report.preset}, sha256 {report.sha256[:16]}…)")
            self._check_ok = True

    def _on_check_failed(self, label: str, error: TaskError) -> None:
        self.show_message(f"{label[0].upper()}{label[1:]}: {error.message}", error=True)

    @Slot()
    def _on_check_done(self) -> None:
        ok, self._check_ok = self._check_ok, False
        if self.check is not None:
            self.check.deleteLater()
        self.check = None
        self._update_buttons()
        self.check_finished.emit(ok)

    def use(self, name: str | None) -> None:
        """Make ``name`` (or ``"classic"``) the configured engine, saved in the settings, and load it now."""
        if name is None:
            return
        try:
            path = self.manager.use(name)
        except (CoreError, OSError) as exc:
            self.show_message(f"Cannot use {name}: {exc}", error=True)
            return
        self.refresh()
        self.show_message(f"Using {name}; it will also be used at the next start.")
        self.engine_selected.emit(None if path is None else str(path))

    def clear_cache(self) -> None:
        if self.cache is None:
            return
        try:
            removed = self.cache.clear()
        except OSError as exc:
            self.show_message(f"Cannot clear {self.cache.directory}: {exc}", error=True)
            return
        self.refresh()
        self.show_message(
            f"Embedding cache cleared: {removed} embeddings deleted from {self.cache.directory}"
        )

    def done(self, result: int) -> None:  # also on close: stops a running download (its .part stays)
        if self.task is not None:
            self.task.shutdown()
            self.task = None
        if self.check is not None:
            self.check.shutdown()
        super().done(result)


def open_models_dialog(window: QWidget) -> ModelsDialog | None:
    """Settings > Models… for the main window: uses the user settings; "Use" reloads the window's engine."""
    from annotator.core.settings import SettingsError, load_settings
    from annotator.ui.main_window import MainWindow
    from annotator.ui.models_settings import disk_cache
    from annotator.workers.requests import EngineRequest

    assert isinstance(window, MainWindow)
    try:
        settings = load_settings()
    except SettingsError as exc:
        window.show_error("Cannot read the settings", str(exc))
        return None
    store = disk_cache(settings)
    dialog = ModelsDialog(ModelManager(settings), store.cache if store is not None else None, parent=window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def load(checkpoint: str | None) -> None:
        request = window.engine_request
        window.load_engine(EngineRequest(checkpoint, request.device, request.dtype))

    dialog.engine_selected.connect(load)
    dialog.show()
    return dialog
