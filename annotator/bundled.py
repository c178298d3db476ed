"""Files shipped inside the package (``annotator/resources``: keymap, default categories, sample images).

They are found through :mod:`importlib.resources`, so an installed wheel (``pip install .``) finds them exactly
as a source checkout does; nothing is looked up relative to the repository or the working directory.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = "annotator"
FOLDER = "resources"


class ResourceError(OSError):
    """A bundled resource is missing or not on the file system (names the resource)."""


def resource(name: str) -> Traversable:
    """The bundled resource ``name`` (e.g. ``"keymap.json"``, ``"samples"``), read with ``read_text()`` etc."""
    return files(PACKAGE).joinpath(FOLDER, name)


def read_resource_text(name: str) -> str:
    """The UTF-8 text of the bundled file ``name``; :class:`ResourceError` when it is missing."""
    item = resource(name)
    if not item.is_file():
        raise ResourceError(f"{PACKAGE}/{FOLDER}/{name}: bundled file missing (reinstall the package)")
    return item.read_text(encoding="utf-8")


def resource_dir(name: str) -> Path:
    """The bundled folder ``name`` as a file-system path (the sample images the GUI opens without a folder).

    Raises :class:`ResourceError` when the package is not installed as plain files (e.g. run from a zip).
    """
    item = resource(name)
    if not isinstance(item, Path) or not item.is_dir():
        raise ResourceError(f"{PACKAGE}/{FOLDER}/{name}: bundled folder not found on the file system")
    return item


def writable_copy(name: str, destination: Path) -> Path:
    """``destination`` holding the files of the bundled folder ``name``, copied there on first use.

    The sample images are opened like any folder, so the app writes its project next to them: an installed
    package's own folder may be read-only (a system install), and writing into it would mix user data with the
    package. Files already in ``destination`` are kept (the user's project and any image they added); missing
    ones are copied again. Raises :class:`ResourceError` naming the folder when it cannot be written.
    """
    source = resource(name)
    destination = Path(destination)
    try:
        destination.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            target = destination / item.name
            if item.is_file() and not target.exists():
                target.write_bytes(item.read_bytes())
    except OSError as exc:
        raise ResourceError(
            f"{destination}: cannot copy the bundled {name} there ({exc.strerror or exc})"
        ) from exc
    return destination
