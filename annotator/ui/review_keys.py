"""Review-mode key bindings, read from the ``"review"`` section of the bundled ``keymap.json``.

They are active only while review mode is on and take precedence over the normal shortcuts (which are taken
off the clashing actions for that time and restored on exit, see ``annotator.ui.review_mode.ReviewMode``).
"""

from __future__ import annotations

import json
from importlib.resources.abc import Traversable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence

from annotator.ui.actions import KEYMAP_PATH

REVIEW_SECTION = "review"

DEFAULT_REVIEW_KEYS: dict[str, list[str]] = {
    "accept": ["Return", "Enter", "A"],
    "accept_category": ["1", "2", "3", "4", "5", "6", "7", "8", "9"],
    "reject": ["X", "Delete"],
    "skip": ["Right", "N"],
    "back": ["Left", "P"],
    "merge": ["M"],
    "refine": ["E"],
    "leave": ["Escape"],
}

REVIEW_HELP: dict[str, str] = {
    "accept": "accept the proposal with its suggested category, else the current one",
    "accept_category": "accept with category 1 … 9",
    "reject": "reject the proposal",
    "skip": "skip it (decide later; on a decided one: next)",
    "back": "go back to the previous proposal",
    "merge": "merge it into the previously accepted object (mask union)",
    "refine": "refine it with clicks (Enter accepts the refined mask, Esc returns)",
    "leave": "leave review mode",
}


def load_review_keys(path: Path | Traversable = KEYMAP_PATH) -> dict[str, list[str]]:
    """Command -> key sequences; the defaults for commands the file does not name.

    Raises ``ValueError`` naming the file when the section is malformed.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the keymap: {exc}") from exc
    section = data.get(REVIEW_SECTION, {})
    if not isinstance(section, dict):
        raise ValueError(f"{path}: the '{REVIEW_SECTION}' section must be an object")
    keys = dict(DEFAULT_REVIEW_KEYS)
    for name, value in section.items():
        if name.startswith("_"):
            continue
        if name not in DEFAULT_REVIEW_KEYS:
            raise ValueError(f"{path}: unknown review command {name!r}")
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise ValueError(f"{path}: review command {name!r} must map to a list of key sequences")
        keys[name] = value
    return keys


def event_sequence(event: QKeyEvent) -> QKeySequence:
    """The key sequence of a key press (keypad keys count as the plain ones)."""
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return QKeySequence(event.key() | modifiers.value)


class ReviewKeys:
    """Resolves a key press to ``(command, argument)``; ``argument`` is the category number for
    ``accept_category``."""

    def __init__(self, keys: dict[str, list[str]]) -> None:
        self.keys = keys
        self._table: dict[str, tuple[str, int]] = {}
        for command, sequences in keys.items():
            for i, text in enumerate(sequences):
                sequence = QKeySequence(text).toString()
                self._table[sequence] = (command, i + 1 if command == "accept_category" else 0)

    def command(self, event: QKeyEvent) -> tuple[str, int] | None:
        return self._table.get(event_sequence(event).toString())

    def sequences(self, commands: set[str] | None = None) -> set[str]:
        """Portable texts of the bound sequences (of ``commands`` only, when given)."""
        return {s for s, (c, _) in self._table.items() if commands is None or c in commands}


def review_help_rows(keys: dict[str, list[str]]) -> str:
    """HTML rows for the shortcut help (a heading row, then one row per review command)."""
    rows = "<tr><td colspan='2'><br><b>Review mode (R)</b></td></tr>"
    for command, text in REVIEW_HELP.items():
        bound = keys.get(command, [])
        shown = "1 … 9" if command == "accept_category" else ", ".join(bound) or "—"
        rows += f"<tr><td><b>{shown}</b></td><td>{text}</td></tr>"
    return rows + "<tr><td><b>Ctrl+Z</b></td><td>undo the last decision</td></tr>"
