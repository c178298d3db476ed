"""Typed errors raised by ``sam_model``. Library code raises these, never ``assert``."""

from __future__ import annotations


class SamModelError(Exception):
    """Base class of every error ``sam_model`` raises on purpose."""


class PromptError(SamModelError, ValueError):
    """A prompt (points, labels, box, mask input) has the wrong shape, type or value."""


class ImageError(SamModelError, ValueError):
    """An image given to an engine is not an HxWx3 uint8 RGB array (or is empty)."""


class NoImageError(SamModelError, RuntimeError):
    """``predict`` (or an embedding getter) was called before ``set_image``."""


class EmbeddingError(SamModelError, ValueError):
    """An embedding cannot be restored into this engine (another model, shape or image size)."""


class CheckpointError(SamModelError):
    """A checkpoint file cannot be used. The message names the file and the reason.

    Subclasses say which reason; catch this class to handle them all.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist or is not a file."""


class NotACheckpointError(CheckpointError):
    """The file is not a torch checkpoint (another format, or an unreadable pickle)."""


class TruncatedCheckpointError(CheckpointError):
    """The file looks like a torch checkpoint but ends early (an interrupted download)."""


class ArchitectureMismatchError(CheckpointError):
    """The state dict does not match the requested (or any known) SAM architecture."""


class ModelConfigError(CheckpointError):
    """A model configuration (``config=`` or a sidecar ``NAME.json``) is unreadable or invalid; ``path`` names
    the configuration file (or ``config`` for a dict)."""
