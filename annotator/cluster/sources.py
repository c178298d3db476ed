"""Where a command's images come from: a local folder or an object-storage URL (issue 16; docs/SCALING.md).

``auto``, ``encode`` and ``boxes-to-masks`` take SOURCE as a folder or as a URL that ``pyarrow.fs`` reads
(``s3://bucket/prefix``, ``gs://bucket/prefix``, ``abfs://container@account.dfs.core.windows.net/prefix``,
``hdfs://host:port/path``, ``file:///absolute/path``; the file systems Ray Data reads through). Both kinds give
the same image names (``/``-separated paths relative to the folder or prefix, listed by the rules of
:func:`annotator.core.images.image_names`) and the same pixels (the bytes are decoded by
:func:`annotator.core.images.load_image_bytes`, the decoder of :func:`~annotator.core.images.load_image`), so
shards, COCO output and resumed runs do not depend on where the images are.

Usage, on the driver and in a Ray actor alike (a source is a string: it travels in each batch)::

    names = list_source(source, recursive=False)   # SourceError: unknown scheme, bucket or prefix not found
    rgb = load_source_image(source, names[0]).rgb  # ImageLoadError: unreadable or corrupt object

``pyarrow`` is imported only for a URL; each process makes one file system per URL (credentials are resolved
there, from the usual environment variables of the node: ``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_
CREDENTIALS``...).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from annotator.core.errors import CoreError, ImageLoadError
from annotator.core.images import LoadedImage, image_names, list_images, load_image, load_image_bytes

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+://)[^/@?]*@")
_REASON_CHARS = 300


class SourceError(CoreError):
    """An image source that cannot be listed (unknown scheme, no pyarrow, bucket or prefix not found, access
    refused); the one-line message names the URL and the reason."""


class ObjectLoadError(ImageLoadError):
    """An object of a URL source that cannot be read or decoded; the message names its URL (``path`` is kept
    for :class:`~annotator.core.errors.FileError`'s callers, ``url`` is the exact name)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.args = (f"{url}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


def is_url(source: str | Path) -> bool:
    """Whether ``source`` is a URL (``scheme://...``) rather than a folder path."""
    return isinstance(source, str) and _URL.match(source) is not None


def source_location(source: str | Path) -> str:
    """What to hand to the workers: the URL as given, or the folder's absolute path."""
    return str(source) if is_url(source) else str(Path(source).resolve())


def shown(source: str | Path) -> str:
    """The source as messages show it: a URL's key and secret (``s3://KEY:SECRET@bucket``) masked."""
    return _USERINFO.sub(r"\1***@", str(source)) if is_url(source) else str(source)


def image_label(source: str | Path, name: str) -> str:
    """The image's full name for messages: the object's URL (without query, secrets masked), or the file's
    path."""
    if is_url(source):
        return f"{_base(shown(source))}/{name}"
    return str(Path(source) / name)


def local_folder(source: str | Path) -> Path | None:
    """The local folder a source is: a folder path, or a ``file://`` URL's path; ``None`` for remote URLs."""
    if not is_url(source):
        return Path(source)
    text = str(source)
    if text.lower().startswith("file://"):
        _fs, path = _file_system(text)
        return Path(path)
    return None


def list_source(source: str | Path, *, recursive: bool = False) -> list[str]:
    """Image names of the folder or URL prefix (``recursive``: sub-folders / nested prefixes too).

    Raises :class:`SourceError` naming the URL (or ``ImageLoadError`` naming the folder) when it cannot be
    listed.
    """
    if not is_url(source):
        return list_images(source, recursive=recursive)
    fs, base = _file_system(str(source))
    return list_tree(fs, base, shown(source), recursive=recursive)


def check_source(source: str | Path) -> None:
    """Raise :class:`SourceError` (a URL) or ``ImageLoadError`` (a folder) naming the source when it is not
    a folder or prefix that can be read: unknown scheme, no pyarrow, bucket or prefix not found, access
    refused."""
    if not is_url(source):
        if not Path(source).is_dir():
            raise ImageLoadError(source, "not a folder")
        return
    fs, base = _file_system(str(source))
    check_tree(fs, base, shown(source))


def load_source_image(source: str | Path, name: str) -> LoadedImage:
    """Image ``name`` of the source, decoded as :func:`~annotator.core.images.load_image` decodes a file.

    Raises :class:`~annotator.core.errors.ImageLoadError` (:class:`ObjectLoadError` for a URL) naming the
    image when it cannot be read or decoded, and :class:`SourceError` when the URL's file system cannot be
    made at all.
    """
    if not is_url(source):
        return load_image(Path(source) / name)
    fs, base = _file_system(str(source))
    return read_tree_image(fs, base, name, image_label(source, name))


def check_tree(fs: Any, base: str, label: str) -> None:
    """:func:`check_source` of folder ``base`` of the ``pyarrow.fs`` file system ``fs`` (``label`` names it)."""
    from pyarrow.fs import FileType

    try:
        info = fs.get_file_info(base)
    except OSError as exc:
        raise SourceError(f"{label}: cannot read ({_reason(exc)})") from None
    if info.type == FileType.NotFound:
        raise SourceError(f"{label}: not found (no such bucket, folder or prefix)")
    if info.type == FileType.File:
        raise SourceError(f"{label}: is one object, not a folder or prefix of images")


def list_tree(fs: Any, base: str, label: str, *, recursive: bool = False) -> list[str]:
    """:func:`list_source` of folder ``base`` (``""``: the root) of the ``pyarrow.fs`` file system ``fs``."""
    from pyarrow.fs import FileSelector, FileType

    check_tree(fs, base, label)
    try:
        entries = fs.get_file_info(FileSelector(base, recursive=recursive))
    except OSError as exc:
        raise SourceError(f"{label}: cannot list ({_reason(exc)})") from None
    prefix = base.rstrip("/") + "/" if base else ""
    return image_names(
        entry.path[len(prefix) :]
        for entry in entries
        if entry.type == FileType.File and entry.path.startswith(prefix)
    )


def read_tree_image(fs: Any, base: str, name: str, label: str) -> LoadedImage:
    """:func:`load_source_image` of image ``name`` under folder ``base`` of the ``pyarrow.fs`` file system
    ``fs`` (``label``: the image's full name in errors)."""
    path = f"{base.rstrip('/')}/{name}" if base else name
    try:
        with fs.open_input_stream(path) as stream:
            data = stream.read()
    except FileNotFoundError:
        raise ObjectLoadError(label, "object not found") from None
    except OSError as exc:
        raise ObjectLoadError(label, f"cannot read ({_reason(exc)})") from None
    try:
        return load_image_bytes(data, name)
    except ImageLoadError as exc:
        raise ObjectLoadError(label, exc.reason) from None


def _base(url: str) -> str:
    """The URL without its query (``?endpoint_override=...``) and trailing ``/``."""
    return url.split("?", 1)[0].rstrip("/")


@functools.lru_cache(maxsize=8)
def _file_system(url: str) -> tuple[Any, str]:
    """``(pyarrow file system, path in it)`` of a URL, made once per process (clients are costly: S3 region
    lookups, credential chains)."""
    try:
        from pyarrow.fs import FileSystem
    except ImportError:
        raise SourceError(
            f"{shown(url)}: reading images from URLs needs pyarrow: pip install 'sam-annotator[cluster]'"
        ) from None
    try:
        fs, path = FileSystem.from_uri(url)
    except (ValueError, NotImplementedError) as exc:  # ArrowInvalid is a ValueError
        raise SourceError(
            f"{shown(url)}: not a URL this installation can read ({_reason(exc)}; known: s3, gs, abfs, hdfs, file)"
        ) from None
    except OSError as exc:  # e.g. S3's region lookup, HDFS's Java libraries
        raise SourceError(f"{shown(url)}: cannot reach its storage ({_reason(exc)})") from None
    return fs, str(path)


def _reason(exc: BaseException) -> str:
    """The first line of an error's message, shortened (pyarrow's can run to pages)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."
