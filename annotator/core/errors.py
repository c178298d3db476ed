"""Typed errors of the Qt-free core. Library code raises these, never ``assert``.

Every error that concerns a file names the file and the reason in its message, so the UI and the CLI can show
``str(exc)`` as one line without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class CoreError(Exception):
    """Base class of every error ``annotator.core`` raises on purpose."""


class ModelError(CoreError, ValueError):
    """An operation on the data model is invalid (unknown id, bad value, duplicate image...)."""


class MaskError(CoreError, ValueError):
    """A mask, RLE or polygon has the wrong shape, type or value."""


class FileError(CoreError):
    """A file cannot be used. ``path`` is the file, ``reason`` what is wrong."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageLoadError(FileError):
    """An image file cannot be read or decoded (missing, corrupt, truncated, unsupported)."""


class ProjectFileError(FileError):
    """A project file cannot be read or written (newer format version, broken JSON and no good backup...)."""


class CocoError(FileError):
    """A COCO file cannot be read or written as a whole (not JSON, not a COCO dataset, write failure)."""


class UndoError(CoreError, RuntimeError):
    """``undo``/``redo`` called with nothing to undo/redo, or a command that cannot apply any more."""


class ProjectAccessError(ProjectFileError):
    """A project file exists but the system refuses access (permissions): reported, never rolled back."""


class LimitError(CoreError, ValueError):
    """An input exceeds a fixed bound (JSON depth or size, RLE or polygon extent, image pixels...); the
    message names the limit."""
