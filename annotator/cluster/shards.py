"""Per-image result files ("shards") of a cluster run: the run's ledger, kept in one folder.

Layout of a shard folder (e.g. ``proposals.json.shards/`` beside ``--out proposals.json``)::

    run.json                the run's identity (task, model, options): shards of another run are refused
    ab/ab12...ef.json       one shard per image: {"name", "status": "ok" | "failed", "record" | "error"}

The shard's file name is the SHA-256 of the image name, so any name (sub-folders, non-ASCII) maps to a safe
file and finding whether an image is done is one ``stat``. Shards are written with
:func:`~annotator.core.atomic.atomic_write_bytes` (temporary file, fsync, rename) by the driver only: an
interrupted run leaves whole shards or none, and a rerun skips every image with a shard. A shard that does not
parse (e.g. the file system lost it) counts as missing and the image is done again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from annotator.cluster.tasks import ClusterError
from annotator.core.atomic import atomic_write_bytes

MANIFEST = "run.json"
STATUS_OK = "ok"
STATUS_FAILED = "failed"


class ShardStore:
    """The shard folder of one run.

    Args:
        directory: the folder (created on :meth:`bind`).
        identity: JSON facts that make results interchangeable (``ImageTask.identity()``).
    """

    def __init__(self, directory: Path, identity: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.identity = json.loads(json.dumps(identity))  # normalised: tuples -> lists, keys as str

    def bind(self) -> None:
        """Create the folder and its manifest, or check that an existing one belongs to the same run.

        Raises :class:`ClusterError` naming the folder when its shards were made with other options or
        another model (mixing them would give an output no single run makes).
        """
        manifest = self.directory / MANIFEST
        if manifest.is_file():
            try:
                stored = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ClusterError(f"{manifest}: unreadable run manifest ({exc}); delete the folder") from exc
            if stored.get("identity") != self.identity:
                raise ClusterError(
                    f"{self.directory}: holds results of a run with other options or another model; "
                    "delete that folder to start again, or write the output elsewhere"
                )
            return
        if self.directory.exists() and any(self.directory.iterdir()):
            raise ClusterError(f"{self.directory}: exists and is not a shard folder of this command")
        payload = {"format": 1, "identity": self.identity}
        atomic_write_bytes(manifest, json.dumps(payload, indent=1).encode("utf-8"))

    def path(self, name: str) -> Path:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
        return self.directory / digest[:2] / f"{digest}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        """The image's shard, or ``None`` when it has none (or an unreadable one, or another image's)."""
        try:
            data = json.loads(self.path(name).read_bytes())
        except (OSError, ValueError):
            return None
        if (
            not isinstance(data, dict)
            or data.get("name") != name
            or data.get("status")
            not in (
                STATUS_OK,
                STATUS_FAILED,
            )
        ):
            return None
        return data

    def done(self, name: str, *, retry_failed: bool = False) -> bool:
        """Whether the image needs no work: it has a shard (a failed one counts unless ``retry_failed``)."""
        if not self.path(name).is_file():
            return False
        shard = self.read(name)
        return shard is not None and (shard["status"] == STATUS_OK or not retry_failed)

    def pending(self, names: Iterable[str], *, retry_failed: bool = False) -> list[str]:
        """The names of ``names`` still to do, in order."""
        return [name for name in names if not self.done(name, retry_failed=retry_failed)]

    def write_ok(self, name: str, record: dict[str, Any]) -> None:
        self._write({"name": name, "status": STATUS_OK, "record": record})

    def write_failed(self, name: str, error: str) -> None:
        self._write({"name": name, "status": STATUS_FAILED, "error": error})

    def _write(self, shard: dict[str, Any]) -> None:
        atomic_write_bytes(self.path(shard["name"]), json.dumps(shard).encode("utf-8"))
