"""Atomic file replacement: temporary file in the same folder, flush, fsync, ``os.replace``, fsync the
folder."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory for fsync; os.replace is durable enough there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, *, backup: str | Path | None = None) -> None:
    """Replace ``path`` with ``data`` so that a crash at any moment leaves either the old or the new file.

    With ``backup``, the previous ``path`` (if any) is first preserved there (hard link, or a copy where links
    are not supported), so ``path`` itself never disappears. Raises ``OSError`` on failure (the temporary
    file is removed; ``path`` is untouched).
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if backup is not None and path.exists():
            _preserve(path, Path(backup))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def _preserve(path: Path, backup: Path) -> None:
    staging = backup.parent / f".{backup.name}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    try:
        try:
            os.link(path, staging)
        except OSError:  # no hard links on this file system (FAT, some network shares): copy instead
            shutil.copyfile(path, staging)
            with open(staging, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(staging, backup)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        raise
