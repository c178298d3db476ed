"""The question shown when another process holds the project's write lock (ADR 0009)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from annotator.core.project_lock import ProjectLockedError


def ask_locked(parent: QWidget | None, error: ProjectLockedError) -> str:
    """``"read_only"``, ``"take_over"`` (offered only for a stale lock) or ``"cancel"``."""
    if error.stale:
        text = (
            f"{error.path}\nwas left locked by {error.holder.describe()}, which is no longer running.\n\n"
            "Take over the lock (nothing is lost: the project is read from disk), or open read-only?"
        )
    else:
        text = (
            f"{error.path}\nis open for writing in {error.holder.describe()}.\n\n"
            "Open it read-only (your changes cannot be saved to this project, only exported or saved "
            "elsewhere), or cancel?"
        )
    box = QMessageBox(
        QMessageBox.Icon.Warning, "Project in use", text, QMessageBox.StandardButton.NoButton, parent
    )
    box.setObjectName("project_locked_dialog")
    take_over = box.addButton("Take over", QMessageBox.ButtonRole.AcceptRole) if error.stale else None
    read_only = box.addButton("Open read-only", QMessageBox.ButtonRole.ActionRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(take_over or cancel)  # a stale lock's holder is gone: taking over loses nothing
    box.exec()
    clicked = box.clickedButton()
    if take_over is not None and clicked is take_over:
        return "take_over"
    if clicked is read_only:
        return "read_only"
    return "cancel"
