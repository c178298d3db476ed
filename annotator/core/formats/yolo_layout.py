"""Where a YOLO dataset keeps its class names, label files and images (Ultralytics' rules).

* Class names: ``data.yaml`` (``names`` a list, or a dict ``{id: name}``; ``nc`` alone gives ``class_0``..),
  else ``classes.txt`` / ``obj.names`` (one name per line, the id is the line number from 0).
* Images: the ``train`` / ``val`` / ``test`` entries of ``data.yaml`` (a folder searched recursively, a
  ``.txt`` file listing images, or a list of those), relative to ``path`` (itself relative to the YAML's folder
  when not absolute). The label of an image is its path with the last ``/images/`` replaced by ``/labels/``
  and the extension by ``.txt``.
  A relative entry starting with ``../`` that does not exist is read without it (Roboflow's
  ``../train/images``, as Ultralytics does).
* When those folders are absent (a labels-only set, or ``path`` written on another machine), every ``.txt``
  in a ``labels`` folder under the dataset folder (else every ``.txt`` beside ``classes.txt``) is a label file,
  and its image is looked for under the matching ``images/`` folder, else matched by stem in the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.core.formats.dataset import DatasetError, read_text
from annotator.core.images import IMAGE_EXTENSIONS

MAX_YAML_BYTES = 1 << 20
"""Largest ``data.yaml`` / class list read."""
MAX_LABEL_FILES = 1_000_000
"""Most label files one import reads."""
NAME_FILES = ("classes.txt", "obj.names")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class YoloLayout:
    """``names``: class id -> name; ``pairs``: ``(label file, image file or None)``; ``source``: the file
    that gave the names."""

    names: dict[int, str]
    pairs: list[tuple[Path, Path | None]]
    source: Path


def find_yaml(folder: Path) -> Path | None:
    """``data.yaml`` in ``folder``, else the one ``*.yaml``/``*.yml`` there with a ``names`` key."""
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (folder / name).is_file():
            return folder / name
    found = [p for p in sorted(folder.glob("*.y*ml")) if p.suffix in (".yaml", ".yml")]
    with_names = [p for p in found if "names:" in _peek(p)]
    return with_names[0] if len(with_names) == 1 else None


def find_names_file(folder: Path) -> Path | None:
    for base in (folder, folder / "labels"):
        for name in NAME_FILES:
            if (base / name).is_file():
                return base / name
    return None


def _peek(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(65536)
    except OSError:
        return ""


def read_layout(path: Path) -> YoloLayout:
    """The layout of the YOLO dataset ``path`` (its folder or its YAML); ``DatasetError`` if it has no class
    names."""
    if path.is_file():
        if path.suffix.lower() in (".yaml", ".yml"):
            return _from_yaml(path)
        if path.name in NAME_FILES:
            return _from_names(path, path.parent.parent if path.parent.name == "labels" else path.parent)
        raise DatasetError(path, "not a YOLO dataset (give its folder, its data.yaml or classes.txt)")
    if not path.is_dir():
        raise DatasetError(path, "not found")
    yaml_file = find_yaml(path)
    if yaml_file is not None:
        return _from_yaml(yaml_file)
    names_file = find_names_file(path)
    if names_file is not None:
        return _from_names(names_file, path)
    raise DatasetError(path, "not a YOLO dataset: no data.yaml and no classes.txt with the class names")


def _from_names(names_file: Path, root: Path) -> YoloLayout:
    lines = read_text(names_file, MAX_YAML_BYTES, "class list").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names = {i: (line.strip() or f"class_{i}") for i, line in enumerate(lines)}
    if not names:
        raise DatasetError(names_file, "the class list is empty")
    return YoloLayout(names, _scan_labels(root, skip={names_file}), names_file)


def _from_yaml(yaml_file: Path) -> YoloLayout:
    import yaml  # PyYAML: only an import of a YOLO dataset needs it

    text = read_text(yaml_file, MAX_YAML_BYTES, "YAML file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DatasetError(yaml_file, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise DatasetError(yaml_file, "YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise DatasetError(yaml_file, "not a YOLO data.yaml (no mapping at the top)")
    if "kpt_shape" in data:
        raise DatasetError(
            yaml_file, "a YOLO pose (keypoint) dataset: only segmentation and detection import"
        )
    names = _names(yaml_file, data)
    root = _root(yaml_file, data.get("path"))
    pairs: list[tuple[Path, Path | None]] = []
    seen: set[Path] = set()
    for split in SPLITS:
        for image in _split_images(root, data.get(split)):
            label = label_of(image)
            if label not in seen and label.is_file():
                seen.add(label)
                pairs.append((label, image))
    if not pairs:
        pairs = _scan_labels(root, skip=set())
    return YoloLayout(names, pairs, yaml_file)


def _names(yaml_file: Path, data: dict[str, Any]) -> dict[int, str]:
    raw = data.get("names")
    if raw is None and isinstance(data.get("nc"), int) and 0 < data["nc"] <= 100_000:
        return {i: f"class_{i}" for i in range(data["nc"])}
    if isinstance(raw, list):
        items = list(enumerate(raw))
    elif isinstance(raw, dict):
        items = list(raw.items())
    else:
        raise DatasetError(yaml_file, "no class 'names' (a list or a mapping id: name)")
    names: dict[int, str] = {}
    for key, value in items:
        if isinstance(key, str) and key.strip().isdigit():  # names: {"0": cat} as JSON-minded tools write it
            key = int(key)
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise DatasetError(yaml_file, f"class id {key!r} in 'names' is not a non-negative integer")
        if not isinstance(value, str | int | float) or not str(value).strip():
            raise DatasetError(yaml_file, f"class {key} has no usable name ({value!r})")
        names[key] = str(value).strip()
    if not names:
        raise DatasetError(yaml_file, "'names' is empty")
    return names


def _root(yaml_file: Path, value: Any) -> Path:
    if isinstance(value, str) and value.strip():
        candidate = Path(value)
        if not candidate.is_absolute():
            candidate = yaml_file.parent / candidate
        if candidate.is_dir():
            return candidate
    return yaml_file.parent


def _split_images(root: Path, entry: Any) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in entries:
        if not isinstance(item, str) or not item.strip():
            continue
        where = Path(item) if Path(item).is_absolute() else root / item
        if not where.exists() and item.startswith(
            "../"
        ):  # Roboflow's "../train/images", as Ultralytics reads it
            where = root / item[3:]
        if where.is_dir():
            images += sorted(p for p in where.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        elif where.is_file() and where.suffix == ".txt":
            for line in read_text(where, 64 * MAX_YAML_BYTES, "image list").splitlines():
                line = line.strip()
                if line:
                    images.append(Path(line) if Path(line).is_absolute() else where.parent / line)
        if len(images) > MAX_LABEL_FILES:
            raise DatasetError(where, f"more than {MAX_LABEL_FILES} images")
    return images


def label_of(image: Path) -> Path:
    """Ultralytics' rule: the last ``/images/`` of the path becomes ``/labels/``, the extension ``.txt``."""
    text = image.as_posix()
    head, sep, tail = text.rpartition("/images/")
    if sep:
        text = f"{head}/labels/{tail}"
    return Path(text).with_suffix(".txt")


def _image_of(label: Path) -> Path | None:
    """The image file a label file was made from, when the dataset has it."""
    text = label.as_posix()
    head, sep, tail = text.rpartition("/labels/")
    base = Path(f"{head}/images/{tail}" if sep else text)
    for ext in sorted(IMAGE_EXTENSIONS):
        for candidate in (base.with_suffix(ext), base.with_suffix(ext.upper())):
            if candidate.is_file():
                return candidate
    return None


def _scan_labels(root: Path, skip: set[Path]) -> list[tuple[Path, Path | None]]:
    found = sorted(p for p in root.rglob("*.txt") if "labels" in p.relative_to(root).parts[:-1])
    if not found:
        found = sorted(root.glob("*.txt"))
    skipped = {p.resolve() for p in skip} | {(root / f"{s}.txt").resolve() for s in SPLITS}
    labels = [p for p in found if p.resolve() not in skipped and p.name not in NAME_FILES]
    if len(labels) > MAX_LABEL_FILES:
        raise DatasetError(root, f"more than {MAX_LABEL_FILES} label files")
    return [(label, _image_of(label)) for label in labels]
