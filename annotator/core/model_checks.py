"""What a checkpoint file is (:func:`identify_checkpoint`) and the checksums recorded for official downloads
that have none published (:class:`AcceptedChecksums`). No Qt; torch only inside ``identify_checkpoint``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from annotator.core.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)


def identify_checkpoint(path: Path) -> str:
    """The architecture of the checkpoint file ``path``: an official preset name (``vit_b``, ``vit_t``,
    ``sam2.1_hiera_tiny``...) or ``"custom"`` for another architecture of a known family that can be loaded
    (its configuration given in a sidecar ``NAME.json``).

    The one place where the model manager asks the model code what a file is:
    ``sam_model.build.check_checkpoint`` (family from ``identify``, architecture checked, nothing built).
    Imports torch.

    Raises:
        sam_model.errors.CheckpointError: not a checkpoint, truncated, not a state dict of a known family, or
            an architecture that cannot be loaded as it is.
    """
    from sam_model.build import check_checkpoint

    return check_checkpoint(path).preset or "custom"


class AcceptedChecksums:
    """SHA-256 of official downloads that have no published checksum, recorded when they were accepted
    (one JSON file ``{file name: sha256}``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def get(self, file: str) -> str | None:
        """The recorded SHA-256 of official file ``file``, or ``None``."""
        value = self._read().get(file)
        return value if isinstance(value, str) else None

    def set(self, file: str, sha256: str) -> None:
        data = self._read()
        data[file] = sha256
        atomic_write_bytes(self.path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable checksum file %s: %s", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}
