"""Which project image a dataset's image file means: by path, else by file name, else by stem, reported.

Datasets are often moved or copied (``dataset/images/train/a.jpg`` while the project holds ``a.jpg``), so a
dataset image is matched, in this order, to:

1. its own path, when it lies inside the project folder and is one of the project's images;
2. the one project image with the same file name, reported as matched by file name; when the dataset has no
   image file (a labels-only YOLO set, a VOC mask without ``JPEGImages``) its name is only a guess, and the
   one project image with the same stem is taken instead, reported as matched by stem;
3. its own path inside the project folder when the file exists there (a new image record).

Several candidates with the same name are reported as ambiguous, none as not found. The project's images
are its records plus the image files at the top of its folder (what the app lists).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections import defaultdict
from pathlib import Path

from annotator.core.errors import ImageLoadError
from annotator.core.formats.dataset import DatasetBuilder
from annotator.core.images import list_images, read_image_info
from annotator.core.model import Project


class ImageMatcher:
    """Match dataset images to project keys, and give their sizes as displayed (EXIF applied)."""

    def __init__(self, project: Project, builder: DatasetBuilder) -> None:
        self.project, self.builder = project, builder
        self.root = project.root.resolve()
        keys = {record.file_name for record in project.images}
        with contextlib.suppress(ImageLoadError):  # no readable folder: only the records can match
            keys.update(list_images(project.root))
        self.keys = keys
        self._by_name: dict[str, list[str]] = defaultdict(list)
        self._by_stem: dict[str, list[str]] = defaultdict(list)
        self._matched: dict[str, Path] = {}
        for key in sorted(keys):
            name = posixpath.basename(key)
            self._by_name[name].append(key)
            self._by_stem[posixpath.splitext(name)[0]].append(key)

    def _inside(self, path: Path) -> str | None:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return None

    def match(self, path: Path, *, guess: bool = False) -> str | None:
        """The project key for the dataset image ``path`` (which need not exist), or ``None`` after an
        error message; a key already matched by another dataset image is reported (both sets of objects go to
        that image). ``guess``: ``path`` is only a guess from a label's name (the dataset has no image file):
        matched by stem instead of file name."""
        key = self._match(path, guess)
        if key is not None:
            first = self._matched.setdefault(key, path)
            if first != path:
                self.builder.warn(
                    f"image {key}", f"matched by both {first} and {path}: the objects of both are added to it"
                )
        return key

    def _match(self, path: Path, guess: bool) -> str | None:
        label = f"image {path.stem}" if guess else f"image {path.name}"
        shown = f"no image file in the dataset for {path.stem!r};" if guess else f"{path}:"
        own = self._inside(path)
        if own is not None and own in self.keys:
            return own
        kind, table, name = (
            ("stem", self._by_stem, path.stem) if guess else ("file name", self._by_name, path.name)
        )
        found = table.get(name, [])
        if len(found) == 1:
            self.builder.warn(label, f"{shown} matched by {kind} to the project image {found[0]!r}")
            return found[0]
        if len(found) > 1:
            listed = ", ".join(repr(k) for k in found[:5])
            self.builder.error(label, f"{shown} several project images match by {kind} ({listed}): skipped")
            return None
        if own is not None and path.is_file():
            return own
        self.builder.error(label, f"{shown} no image in the project folder matches it (by path or {kind})")
        return None

    def by_file_name(self, name: str) -> str | None:
        """The one project image named like the dataset's ``name`` (a path of another machine or folder),
        reported; ``None`` (nothing reported) when ``name`` is a project image already, or none or several
        match."""
        key = name.replace("\\", "/")
        if key in self.keys or (self.project.root / key).is_file():
            return None
        found = self._by_name.get(posixpath.basename(key), [])
        if len(found) != 1:
            return None
        self.builder.warn(f"image {name}", f"matched by file name to the project image {found[0]!r}")
        return found[0]

    def size(self, key: str) -> tuple[int, int] | None:
        """``(width, height)`` of the project image ``key`` as displayed, or ``None`` after an error."""
        if self.project.has_image(key):
            record = self.project.image(key)
            return record.width, record.height
        try:
            info = read_image_info(self.project.root / key)
        except ImageLoadError as exc:
            self.builder.error(f"image {key}", exc.reason)
            return None
        return info.width, info.height
