"""On-disk cache of image embeddings, keyed by pixel content and model identity (no Qt).

An entry is one ``.npz`` file (no pickles) holding the embedding's arrays plus a ``__meta__`` member: a JSON
document with the format version, ``model_id``, image key, ``original_size``, ``input_size``, each array's
name / dtype / shape, and the SHA-256 of the payload. The file name is the SHA-256 of ``model_id`` and the
image key, so the same pixels opened from another path hit, and two models never share an entry.

* Writes are atomic: a temporary file in the entry's folder, fsync, rename. Two processes writing the same key
  both write complete files; the last rename wins and either result is valid.
* Reads validate everything; a damaged entry (truncated, unreadable, checksum or shape mismatch, foreign key)
  is deleted, counted in ``stats().corrupt``, logged, and reported as a miss so the caller recomputes it.
* Size limit: after each ``put``, the least-recently-used entries (file mtime, refreshed on every hit) are
  deleted until the total is at most ``max_bytes``.

Typical use (the worker)::

    key = image_key(rgb)                          # hash of the decoded H x W x 3 uint8 pixels
    emb = cache.get(key, segmenter.model_id)
    if emb is None:
        segmenter.set_image(rgb)
        cache.put(key, segmenter.get_embedding())
    else:
        segmenter.set_embedding(emb)              # on EmbeddingError: cache.discard(key, model_id)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sam_model.protocol import ImageEmbedding

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_META = "__meta__"
_TMP_MAX_AGE_S = 3600.0


def image_key(rgb: np.ndarray) -> str:
    """Hex SHA-256 of an image's decoded pixels, shape and dtype (``rgb``: ``H x W x 3`` uint8, as displayed).

    The file's path, name and encoding play no part: a copy elsewhere (or a PNG of a BMP) has the same key.
    """
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"image_key expects a NumPy array, got {type(rgb).__name__}")
    digest = hashlib.sha256()
    digest.update(f"pixels:{rgb.dtype.str}:{'x'.join(map(str, rgb.shape))}\n".encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheStats:
    """Cache state: ``entries`` / ``total_bytes`` on disk now (all processes), counters of this object.

    Attributes:
        directory: the cache folder.
        entries: number of stored embeddings.
        total_bytes: their size on disk, in bytes.
        max_bytes: the size limit, in bytes.
        hits / misses: ``get`` results (a damaged entry counts as a miss and in ``corrupt``).
        corrupt: damaged entries found and deleted.
        evictions: entries deleted to stay under ``max_bytes``.
        writes: entries stored by ``put``.
    """

    directory: Path
    entries: int
    total_bytes: int
    max_bytes: int
    hits: int
    misses: int
    corrupt: int
    evictions: int
    writes: int


class EmbeddingCache:
    """Least-recently-used disk cache of :class:`ImageEmbedding` objects.

    Args:
        directory: cache folder (created on first write). Entries live in ``<directory>/v1/``; nothing else in
            ``directory`` is ever touched.
        max_bytes: size limit in bytes (``0`` stores nothing).
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if int(max_bytes) < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        self._root = self.directory / f"v{FORMAT_VERSION}"
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "corrupt": 0, "evictions": 0, "writes": 0}
        self._last_ns = 0

    # -- public API ----------------------------------------------------------------------------------------

    def entry_path(self, image_key: str, model_id: str) -> Path:
        """The file that holds (or would hold) the entry for ``image_key`` and ``model_id``."""
        name = hashlib.sha256(f"{model_id}\n{image_key}".encode()).hexdigest()
        return self._root / name[:2] / f"{name}.npz"

    def contains(self, image_key: str, model_id: str) -> bool:
        """Whether an entry file exists (not validated; ``get`` validates)."""
        return self.entry_path(image_key, model_id).is_file()

    def get(self, image_key: str, model_id: str) -> ImageEmbedding | None:
        """The cached embedding, or ``None`` if missing or damaged (damaged: deleted); marks it used."""
        path = self.entry_path(image_key, model_id)
        try:
            embedding = _read_entry(path, image_key, model_id)
        except FileNotFoundError:
            self._count("misses")
            return None
        except _DamagedEntryError as exc:
            logger.warning("embedding cache: deleting damaged entry %s: %s", path, exc)
            _remove_entry(path)
            self._count("misses", "corrupt")
            return None
        self._touch(path)
        self._count("hits")
        return embedding

    def put(self, image_key: str, embedding: ImageEmbedding) -> bool:
        """Store ``embedding`` for ``image_key`` (atomically), then evict LRU entries over the limit.

        Returns ``False`` (and stores nothing) when the entry alone is larger than ``max_bytes``.
        Raises ``TypeError``/``ValueError`` for an invalid embedding, ``OSError`` when the write fails.
        """
        names, arrays = _check_embedding(embedding)
        if embedding.nbytes() > self.max_bytes:
            logger.info(
                "embedding cache: %d-byte entry exceeds the %d-byte limit", embedding.nbytes(), self.max_bytes
            )
            return False
        meta = {
            "format": FORMAT_VERSION,
            "model_id": embedding.model_id,
            "image_key": image_key,
            "original_size": [int(v) for v in embedding.original_size],
            "input_size": [int(v) for v in embedding.input_size],
            "arrays": [
                {"name": n, "dtype": a.dtype.str, "shape": list(a.shape)}
                for n, a in zip(names, arrays, strict=True)
            ],
            "payload_sha256": _payload_sha256(names, arrays),
        }
        members: dict[str, Any] = {f"a{i}": a for i, a in enumerate(arrays)}
        members[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        path = self.entry_path(image_key, embedding.model_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() or path.is_symlink():  # a damaged entry of another kind: replaced, never fatal
            _remove_entry(path)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, **members)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.replace(tmp, path)
            except PermissionError:
                # Windows: another process holds the same entry open; its content is equivalent to ours.
                if not path.is_file():
                    raise
                logger.info("embedding cache: %s is in use by another process; keeping that copy", path.name)
        finally:
            tmp.unlink(missing_ok=True)
        if path.stat().st_size > self.max_bytes:
            # The file (arrays + metadata + zip overhead) is a little larger than the arrays themselves:
            # an entry that only fits by its array size would be evicted at once; store nothing instead.
            path.unlink(missing_ok=True)
            logger.info("embedding cache: %s exceeds the %d-byte limit on disk", path.name, self.max_bytes)
            return False
        self._touch(path)
        self._count("writes")
        self._evict()
        return True

    def discard(self, image_key: str, model_id: str) -> bool:
        """Delete one entry (e.g. when the engine rejected it); returns whether one existed."""
        path = self.entry_path(image_key, model_id)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

    def stats(self) -> CacheStats:
        """Entries and bytes on disk now, plus this object's hit/miss/corrupt/eviction/write counters."""
        entries = self._scan()
        with self._lock:
            counts = dict(self._counts)
        return CacheStats(
            directory=self.directory,
            entries=len(entries),
            total_bytes=sum(size for _, size, _ in entries),
            max_bytes=self.max_bytes,
            **counts,
        )

    def clear(self) -> int:
        """Delete every entry (and leftover temporary files); returns the number of entries deleted."""
        removed = 0
        if not self._root.is_dir():
            return 0
        for sub in self._root.iterdir():
            if not sub.is_dir():
                continue
            for file in sub.iterdir():
                if file.suffix in (".npz", ".tmp"):
                    file.unlink(missing_ok=True)
                    removed += file.suffix == ".npz"
        return removed

    # -- helpers -------------------------------------------------------------------------------------------

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts[name] += 1

    def _touch(self, path: Path) -> None:
        """Set ``path``'s mtime to now (strictly increasing within this process): the LRU clock."""
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1000)
            now = self._last_ns
        try:
            os.utime(path, ns=(now, now))
        except FileNotFoundError:
            logger.debug("embedding cache: %s was removed by another process", path)

    def _scan(self) -> list[tuple[Path, int, int]]:
        """``(path, size in bytes, mtime in ns)`` of every entry; removes stale temporary files."""
        found: list[tuple[Path, int, int]] = []
        if not self._root.is_dir():
            return found
        stale_before = time.time() - _TMP_MAX_AGE_S
        for sub in self._root.iterdir():
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub):
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue  # deleted by another process while we listed the folder
                if entry.name.endswith(".npz"):
                    found.append((Path(entry.path), st.st_size, st.st_mtime_ns))
                elif entry.name.endswith(".tmp") and st.st_mtime < stale_before:
                    Path(entry.path).unlink(missing_ok=True)  # left by a crashed writer
        return found

    def _evict(self) -> None:
        entries = self._scan()
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for path, size, _ in sorted(entries, key=lambda e: e[2]):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            self._count("evictions")
            logger.debug("embedding cache: evicted %s (%d bytes)", path.name, size)


class _DamagedEntryError(Exception):
    """Internal: an entry file exists but cannot be trusted."""


def _check_embedding(embedding: ImageEmbedding) -> tuple[list[str], list[np.ndarray]]:
    if not isinstance(embedding, ImageEmbedding):
        raise TypeError(f"expected an ImageEmbedding, got {type(embedding).__name__}")
    if not embedding.model_id:
        raise ValueError("the embedding has an empty model_id")
    for label, size in (("original_size", embedding.original_size), ("input_size", embedding.input_size)):
        if len(size) != 2 or any(int(v) <= 0 for v in size):
            raise ValueError(f"embedding {label} must be two positive ints, got {size!r}")
    names = sorted(embedding.arrays)
    arrays = []
    for name in names:
        array = embedding.arrays[name]
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            raise TypeError(
                f"embedding array {name!r} must be a numeric NumPy array, got {type(array).__name__}"
            )
        arrays.append(np.ascontiguousarray(array))
    return names, arrays


def _payload_sha256(names: list[str], arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name, array in zip(names, arrays, strict=True):
        digest.update(f"{name}:{array.dtype.str}:{'x'.join(map(str, array.shape))}\n".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _remove_entry(path: Path) -> None:
    """Delete a damaged entry whatever it is (file, directory, link); a failure is logged, not raised."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("embedding cache: cannot delete damaged entry %s: %s", path, exc)


def _check_container(path: Path) -> None:
    """Before anything is read: the entry is a regular file and a zip whose members are stored (np.savez
    never compresses), so no member can inflate beyond the file's own size (zip bombs are refused)."""
    if not path.exists():
        raise FileNotFoundError(path)
    if not path.is_file():
        raise _DamagedEntryError("not a regular file")
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise _DamagedEntryError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    total = sum(m.file_size for m in members)
    if any(m.compress_type != zipfile.ZIP_STORED for m in members) or total > size:
        raise _DamagedEntryError(f"members expand to {total} bytes, more than the {size}-byte entry")


def _read_entry(path: Path, image_key: str, model_id: str) -> ImageEmbedding:
    """Load and fully validate one entry. Raises ``FileNotFoundError`` or ``_DamagedEntryError``."""
    _check_container(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta: Any = json.loads(bytes(npz[_META]).decode("utf-8"))
            specs = meta["arrays"]
            loaded = [npz[f"a{i}"] for i in range(len(specs))]
            extra = set(npz.files) - {_META, *(f"a{i}" for i in range(len(specs)))}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise _DamagedEntryError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    if extra:
        raise _DamagedEntryError(f"unexpected members {sorted(extra)}")
    try:
        if meta["format"] != FORMAT_VERSION:
            raise _DamagedEntryError(f"format {meta['format']!r}, expected {FORMAT_VERSION}")
        if meta["model_id"] != model_id or meta["image_key"] != image_key:
            raise _DamagedEntryError("entry belongs to another image or model")
        original_size = _size_pair(meta["original_size"])
        input_size = _size_pair(meta["input_size"])
        names = [str(s["name"]) for s in specs]
        for spec, array in zip(specs, loaded, strict=True):
            if array.dtype.str != spec["dtype"] or list(array.shape) != list(spec["shape"]):
                raise _DamagedEntryError(
                    f"array {spec['name']!r} is {array.dtype.str} {list(array.shape)}, "
                    f"expected {spec['dtype']} {spec['shape']}"
                )
        expected = meta["payload_sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise _DamagedEntryError(f"invalid metadata ({type(exc).__name__}: {exc})") from exc
    actual = _payload_sha256(names, loaded)
    if actual != expected:
        raise _DamagedEntryError(f"payload checksum mismatch (stored {expected}, computed {actual})")
    return ImageEmbedding(
        model_id=model_id,
        original_size=original_size,
        input_size=input_size,
        arrays=dict(zip(names, loaded, strict=True)),
    )


def _size_pair(value: Any) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"bad size {value!r}")
    return int(value[0]), int(value[1])
