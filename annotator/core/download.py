"""Resumable, verified HTTP(S) downloads with ``urllib`` (no Qt; callable from a worker thread).

``download_file`` writes to ``<dest>.part``, resumes an interrupted transfer with a ``Range`` request (a
server that answers ``200`` instead of ``206`` makes it start over), hashes incrementally (the resumed prefix
included), verifies the SHA-256 and only then renames the file into place. A checksum mismatch deletes the
``.part`` and raises :class:`ChecksumMismatchError`. Dropped connections are retried with exponential backoff,
a bounded number of times in a row without progress. Cancelling keeps the ``.part`` so the next call resumes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from annotator.core.atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(bytes_done, bytes_total)``; ``bytes_total`` is ``None`` when the server does not say."""
CancelCheck = Callable[[], bool]
"""Returns ``True`` when the download must stop (e.g. ``threading.Event().is_set``)."""

CHUNK_BYTES = 1 << 20
USER_AGENT = "sam-annotator/0.1"


class DownloadError(OSError):
    """A download failed. The message names the address or file and the reason."""


class DownloadCancelledError(DownloadError):
    """The cancel check returned ``True``; the ``.part`` file is kept for resuming."""


class ChecksumMismatchError(DownloadError):
    """The downloaded file's SHA-256 is not the expected one; the ``.part`` file has been deleted."""

    def __init__(self, file: Path, expected: str, actual: str) -> None:
        self.file = Path(file)
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{self.file.name}: checksum mismatch, the download is corrupt and was deleted "
            f"(expected SHA-256 {expected}, got {actual})"
        )


class _RetryableError(Exception):
    """Internal: the transfer broke off in a way worth retrying."""


def part_path(dest: Path) -> Path:
    """The temporary file ``download_file`` writes for ``dest``: ``<dest>.part``."""
    return dest.with_name(dest.name + ".part")


def file_sha256(path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


class ChecksumRecords:
    """Remembers verified checksums so that large files are not re-hashed on every listing.

    A record (one JSON file per checked file, in ``directory``) holds the file's absolute path, size, mtime
    and SHA-256; it is trusted only while the size and mtime are unchanged.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, path: Path) -> Path:
        key = hashlib.sha256(str(path.expanduser().resolve()).encode("utf-8")).hexdigest()[:24]
        return self.directory / f"{key}.json"

    def record(self, path: Path, sha256: str) -> None:
        """Remember that ``path`` (at its current size and mtime) has checksum ``sha256``."""
        stat = path.stat()
        record = {
            "path": str(path.resolve()),
            "sha256": sha256,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }
        try:
            atomic_write_bytes(self._path(path), json.dumps(record).encode("utf-8"))
        except OSError as exc:  # e.g. a read-only folder: the checksum is recomputed next time
            logger.warning("cannot record the checksum of %s: %s", path, exc)

    def recorded(self, path: Path, sha256: str) -> bool | None:
        """``True``/``False``: the record says ``path`` is unchanged and (mis)matches; ``None``: unknown."""
        try:
            record = json.loads(self._path(path).read_text(encoding="utf-8"))
            stat = path.stat()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable checksum record for %s: %s", path, exc)
            return None
        if not isinstance(record, dict):
            return None
        unchanged = (
            record.get("path") == str(path.resolve())
            and record.get("size") == stat.st_size
            and record.get("mtime_ns") == stat.st_mtime_ns
        )
        return bool(record.get("sha256") == sha256) if unchanged else None

    def check(self, path: Path, sha256: str) -> bool:
        """Hash ``path`` now, record the result, and say whether it is ``sha256``."""
        actual = file_sha256(path)
        self.record(path, actual)
        return actual == sha256


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    expected_bytes: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 30.0,
    chunk_bytes: int = CHUNK_BYTES,
    sleep: Callable[[float], None] = time.sleep,
    accept: Callable[[Path, str], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``<dest>.part`` if it exists.

    Args:
        url: ``http://`` or ``https://`` address.
        dest: final path; its folder is created.
        sha256: expected hex SHA-256 of the whole file; ``None`` skips verification.
        expected_bytes: expected size in bytes, checked when known.
        progress: called with ``(bytes_done, bytes_total)`` after each chunk (and once at the start).
        cancel: polled between chunks; ``True`` raises :class:`DownloadCancelledError`.
        retries: consecutive failed attempts without progress allowed before giving up.
        backoff_s: wait before the first retry, in seconds; doubled after each failure (at most 60 s).
        timeout_s: socket timeout per connection / read, in seconds.
        chunk_bytes: read size in bytes.
        sleep: the wait function (tests pass a fast one).
        accept: called with ``(part file, its hex SHA-256)`` once the transfer is complete and the checksum
            (if any) matched, before the file is moved into place; an exception it raises deletes the
            ``.part`` and propagates (e.g. a download that does not load as the expected model).

    Returns:
        ``dest``.

    Raises:
        ChecksumMismatchError: the file is corrupt (``.part`` deleted, nothing moved into place).
        DownloadCancelledError: cancelled (``.part`` kept).
        DownloadError: HTTP error, size mismatch, or too many failed attempts.
    """
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"{url}: only http:// and https:// addresses are supported")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    failures = 0
    delay = backoff_s
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            digest, total = _attempt(url, part, progress, cancel, timeout_s, chunk_bytes)
            break
        except _RetryableError as exc:
            after = part.stat().st_size if part.exists() else 0
            if after > before:
                failures, delay = 0, backoff_s
            failures += 1
            if failures > retries:
                raise DownloadError(f"{url}: download failed after {retries} retries ({exc})") from exc
            logger.warning("%s: %s; retrying in %.1f s (%d/%d)", url, exc, delay, failures, retries)
            sleep(delay)
            delay = min(delay * 2.0, 60.0)
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"{dest.name}: received {size} bytes, the server announced {total}")
    if expected_bytes is not None and size != expected_bytes:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{dest.name}: size is {size} bytes, expected {expected_bytes}; the download was deleted"
        )
    actual = digest.hexdigest()
    if sha256 is not None and actual != sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(dest, sha256.lower(), actual)
    if accept is not None:
        try:
            accept(part, actual)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    os.replace(part, dest)
    return dest


def _attempt(
    url: str,
    part: Path,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    timeout_s: float,
    chunk_bytes: int,
) -> tuple[hashlib._Hash, int | None]:
    """One HTTP request: resume or restart ``part``; returns the whole file's digest and its total size."""
    digest = hashlib.sha256()
    offset = 0
    if part.exists():
        offset = part.stat().st_size
        with open(part, "rb") as handle:  # hash the prefix we already have
            while chunk := handle.read(chunk_bytes):
                digest.update(chunk)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            # The range starts at or past the end: either the .part is complete or it is longer than the file.
            total = _total_from_content_range(exc.headers.get("Content-Range"))
            if total == offset:
                return digest, total
            logger.warning("%s: server rejected resuming at %d bytes; starting over", url, offset)
            part.unlink(missing_ok=True)
            raise _RetryableError(f"HTTP 416 at offset {offset}") from exc
        if exc.code >= 500 or exc.code in (408, 429):
            raise _RetryableError(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _RetryableError(f"cannot connect: {getattr(exc, 'reason', exc)}") from exc
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        if status == 206 and offset:
            start = _start_from_content_range(response.headers.get("Content-Range"))
            if start != offset:
                raise DownloadError(f"{url}: server resumed at byte {start}, asked for {offset}")
            total = _total_from_content_range(response.headers.get("Content-Range"))
            mode = "ab"
        elif status == 200:
            if offset:
                logger.info("%s: server ignored the Range request; starting over", url)
                digest = hashlib.sha256()
                offset = 0
            total = int(length) if length is not None else None
            mode = "wb"
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")
        done = offset
        if progress is not None:
            progress(done, total)
        with open(part, mode) as out:
            try:
                while True:
                    if cancel is not None and cancel():
                        raise DownloadCancelledError(f"{part.name}: download cancelled ({done} bytes kept)")
                    chunk = response.read(chunk_bytes)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                if isinstance(exc, DownloadError):
                    raise
                raise _RetryableError(f"connection dropped after {done} bytes: {exc!r}") from exc
            finally:
                out.flush()
                os.fsync(out.fileno())
    if total is not None and done < total:
        raise _RetryableError(f"connection closed after {done} of {total} bytes")
    return digest, total


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


def _start_from_content_range(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match(value or "")
    return int(match.group(1)) if match and match.group(1) is not None else None


def _total_from_content_range(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match(value or "")
    return int(match.group(3)) if match and match.group(3) != "*" else None
