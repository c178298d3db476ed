"""The evented, Qt-free annotation data model: the :class:`Project` that owns everything.

Ownership and mutation: a :class:`Project` owns everything; :class:`Category` and :class:`Instance` are immutable
values (change = replace), :class:`ImageRecord` is mutable but only through ``Project`` methods, so every change
emits exactly one :class:`~annotator.core.events.Event` on ``project.events``. User edits go through the undo
commands of :mod:`annotator.core.undo`, which call these methods. The value types live in
:mod:`annotator.core.records` and are importable from here.

Event types emitted on ``project.events`` (``event.image_key`` / ``instance_id`` / ``category_id`` say what):
``category_added``, ``category_changed``, ``category_removed``, ``image_added``,
``image_changed`` (status, error, size, metadata or extras; ``info["fields"]``), ``instance_added``,
``instance_changed`` (``info["fields"]``), ``instance_removed`` (each instance event also gives the object's
drawing position on its image, ``info["index"]``, so a view can update that one object; a change also gives
``info["old_category_id"]``), ``settings_changed``, ``extras_changed`` (``info["key"]``) and ``reset`` (bulk
change, e.g. after an import: re-read everything).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from annotator.core.errors import ModelError
from annotator.core.events import Event, EventEmitter
from annotator.core.masks import Mask
from annotator.core.records import (
    INSTANCE_SOURCES,
    PALETTE,
    RGB,
    SEGMENTATION_MODES,
    Category,
    ImageRecord,
    ImageStatus,
    Instance,
    ProjectSettings,
    SegmentationMode,
    check_rgb,
)

__all__ = [
    "INSTANCE_SOURCES",
    "PALETTE",
    "RGB",
    "SEGMENTATION_MODES",
    "Category",
    "ImageRecord",
    "ImageStatus",
    "Instance",
    "Project",
    "ProjectSettings",
    "SegmentationMode",
]


class Project:
    """All annotations of one image folder. ``root`` is the folder the image ``file_name``s are relative
    to."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.events = EventEmitter()
        self.settings = ProjectSettings()
        self.extras: dict[str, Any] = {}
        self._categories: dict[int, Category] = {}
        self._images: dict[str, ImageRecord] = {}
        self._owner: dict[int, str] = {}  # instance id -> image key
        self._next_category_id = 1
        self._next_instance_id = 1

    # -- events ---------------------------------------------------------------------------------------------
    def _emit(self, type_: str, **kwargs: Any) -> None:
        self.events.emit(Event(type_, self, **kwargs))

    def emit_reset(self) -> None:
        """Tell views to re-read everything (after a bulk change made with ``events.blocked()``)."""
        self._emit("reset")

    # -- categories -----------------------------------------------------------------------------------------
    @property
    def categories(self) -> tuple[Category, ...]:
        """Categories in creation order."""
        return tuple(self._categories.values())

    def category(self, category_id: int) -> Category:
        try:
            return self._categories[category_id]
        except KeyError:
            raise ModelError(f"no category with id {category_id}") from None

    def has_category(self, category_id: int) -> bool:
        return category_id in self._categories

    def category_by_name(self, name: str) -> Category | None:
        """The category whose name equals ``name`` ignoring case and surrounding spaces, if any."""
        wanted = name.strip().casefold()
        return next((c for c in self._categories.values() if c.name.strip().casefold() == wanted), None)

    def reserve_category_id(self) -> int:
        """A fresh category id (never reused in this project)."""
        cid = self._next_category_id
        self._next_category_id += 1
        return cid

    def add_category(
        self, name: str, color: RGB | None = None, supercategory: str = "", *, id: int | None = None
    ) -> Category:
        """Create a category (``id`` fresh unless given and free; 0 is an id, as in COCO files); names are
        unique ignoring case."""
        cid = self.reserve_category_id() if id is None else id
        if not isinstance(cid, int) or isinstance(cid, bool) or cid < 0 or cid in self._categories:
            raise ModelError(f"category id {cid!r} is not a free non-negative integer")
        category = Category(cid, self._check_name(name), self._default_color(cid, color), supercategory)
        self.insert_category(category)
        return category

    def insert_category(self, category: Category, index: int | None = None) -> None:
        """Insert a ready-made category (used by undo and loading) at ``index`` of the order (default:
        end)."""
        if category.id in self._categories or category.id < 0:
            raise ModelError(f"category id {category.id} is already used or negative")
        self._check_name(category.name)
        check_rgb(category.color)
        items = list(self._categories.items())
        items.insert(len(items) if index is None else index, (category.id, category))
        self._categories = dict(items)
        self._next_category_id = max(self._next_category_id, category.id + 1)
        self._emit("category_added", category_id=category.id)

    def update_category(self, category_id: int, **changes: Any) -> Category:
        """Change ``name``, ``color`` and/or ``supercategory``; returns the new category."""
        old = self.category(category_id)
        if "name" in changes:
            changes["name"] = self._check_name(changes["name"], ignore=category_id)
        if "color" in changes:
            changes["color"] = check_rgb(changes["color"])
        try:
            new = dataclasses.replace(old, **changes)
        except TypeError as exc:
            raise ModelError(f"invalid category change: {exc}") from exc
        if new.id != category_id:
            raise ModelError("a category id cannot change")
        self._categories[category_id] = new
        self._emit("category_changed", category_id=category_id, info={"fields": tuple(changes)})
        return new

    def remove_category(self, category_id: int) -> tuple[Category, int]:
        """Remove an unused category; returns it and its index. Raises ``ModelError`` while instances use
        it."""
        category = self.category(category_id)
        if any(inst.category_id == category_id for inst in self.iter_instances()):
            raise ModelError(f"category {category.name!r} is still used by instances")
        index = list(self._categories).index(category_id)
        del self._categories[category_id]
        self._emit("category_removed", category_id=category_id)
        return category, index

    def _check_name(self, name: object, ignore: int | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ModelError("a category name must be a non-empty string")
        other = self.category_by_name(name)
        if other is not None and other.id != ignore:
            raise ModelError(f"a category named {other.name!r} already exists (id {other.id})")
        return name.strip()

    def _default_color(self, cid: int, color: RGB | None) -> RGB:
        """``color`` checked, or a colour unlike those of the existing categories (``colors.distinct_color``)."""
        if color is not None:
            return check_rgb(color)
        from annotator.core.colors import distinct_color

        return distinct_color((c.color for c in self._categories.values()), cid - 1)

    # -- images ---------------------------------------------------------------------------------------------
    @property
    def images(self) -> tuple[ImageRecord, ...]:
        """Image records in project order."""
        return tuple(self._images.values())

    def image(self, key: str) -> ImageRecord:
        try:
            return self._images[key]
        except KeyError:
            raise ModelError(f"no image {key!r} in the project") from None

    def has_image(self, key: str) -> bool:
        return key in self._images

    def add_image(self, file_name: str, width: int, height: int, **fields: Any) -> ImageRecord:
        """Add an image record (``file_name`` relative, ``/``-separated; size as displayed, pixels)."""
        key = file_name.replace("\\", "/")
        if key in self._images:
            raise ModelError(f"image {key!r} is already in the project")
        if width < 1 or height < 1:
            raise ModelError(f"image {key!r}: size must be positive, got {width}x{height}")
        record = ImageRecord(key, int(width), int(height), **fields)
        self._images[key] = record
        for inst in record._instances:
            self._register_instance(key, inst)
        self._emit("image_added", image_key=key)
        return record

    def update_image(self, key: str, **changes: Any) -> ImageRecord:
        """Change ``status``/``error``/``width``/``height``/``metadata``/``extras`` of an image record."""
        record = self.image(key)
        allowed = {"status", "error", "width", "height", "metadata", "extras"}
        unknown = set(changes) - allowed
        if unknown:
            raise ModelError(f"cannot change {sorted(unknown)} of an image record")
        if "status" in changes:
            changes["status"] = ImageStatus(changes["status"])
        for name, value in changes.items():
            setattr(record, name, value)
        record._version += 1
        self._emit("image_changed", image_key=key, info={"fields": tuple(changes)})
        return record

    def set_image_status(self, key: str, status: ImageStatus | str, error: str | None = None) -> None:
        """Set the progress of an image; ``error`` (a message) is kept only with ``ImageStatus.ERROR``."""
        status = ImageStatus(status)
        self.update_image(key, status=status, error=error if status is ImageStatus.ERROR else None)

    def set_image_extra(self, key: str, name: str, value: Any) -> None:
        """Store a JSON value in ``image.extras[name]`` (``None`` deletes it)."""
        extras = dict(self.image(key).extras)
        if value is None:
            extras.pop(name, None)
        else:
            extras[name] = value
        self.update_image(key, extras=extras)

    # -- instances ------------------------------------------------------------------------------------------
    def reserve_instance_id(self) -> int:
        """A fresh instance id (never reused in this project)."""
        iid = self._next_instance_id
        self._next_instance_id += 1
        return iid

    def new_instance(self, mask: Mask, category_id: int, **fields: Any) -> Instance:
        """Build (not add) an :class:`Instance` with a fresh id."""
        return Instance(self.reserve_instance_id(), category_id, mask, **fields)

    def iter_instances(self) -> Iterator[Instance]:
        for record in self._images.values():
            yield from record._instances

    def find_instance(self, instance_id: int) -> tuple[str, Instance]:
        """``(image key, instance)`` of an instance id."""
        key = self._owner.get(instance_id)
        if key is None:
            raise ModelError(f"no instance {instance_id} in the project")
        return key, self._images[key].instance(instance_id)

    def add_instance(self, key: str, instance: Instance, index: int | None = None) -> None:
        """Add ``instance`` to image ``key`` at drawing position ``index`` (default: top)."""
        record = self.image(key)
        self._validate_instance(record, instance)
        if instance.id in self._owner:
            raise ModelError(f"instance id {instance.id} is already used")
        count = len(record._instances)
        position = count if index is None else min(index, count) if index >= 0 else max(0, count + index)
        record._instances.insert(position, instance)
        record._version += 1
        self._register_instance(key, instance)
        self._emit(
            "instance_added",
            image_key=key,
            instance_id=instance.id,
            category_id=instance.category_id,
            info={"index": position},
        )

    def remove_instance(self, key: str, instance_id: int) -> tuple[Instance, int]:
        """Remove an instance; returns it and its drawing index (for undo)."""
        record = self.image(key)
        index = record.index_of(instance_id)
        instance = record._instances.pop(index)
        record._version += 1
        self._owner.pop(instance_id, None)
        self._emit(
            "instance_removed",
            image_key=key,
            instance_id=instance_id,
            category_id=instance.category_id,
            info={"index": index},
        )
        return instance, index

    def replace_instance(self, key: str, instance: Instance) -> Instance:
        """Replace the instance with the same id; returns the old one."""
        record = self.image(key)
        index = record.index_of(instance.id)
        self._validate_instance(record, instance)
        old = record._instances[index]
        record._instances[index] = instance
        record._version += 1
        fields = tuple(
            f.name for f in dataclasses.fields(Instance) if getattr(old, f.name) != getattr(instance, f.name)
        )
        self._emit(
            "instance_changed",
            image_key=key,
            instance_id=instance.id,
            category_id=instance.category_id,
            info={"fields": fields, "index": index, "old_category_id": old.category_id},
        )
        return old

    def _register_instance(self, key: str, instance: Instance) -> None:
        self._owner[instance.id] = key
        self._next_instance_id = max(self._next_instance_id, instance.id + 1)

    def _validate_instance(self, record: ImageRecord, instance: Instance) -> None:
        if instance.category_id not in self._categories:
            raise ModelError(f"instance {instance.id}: unknown category id {instance.category_id}")
        if instance.mask.shape != (record.height, record.width):
            raise ModelError(
                f"instance {instance.id}: mask is {instance.mask.height}x{instance.mask.width}, image "
                f"{record.file_name} is {record.height}x{record.width} (H x W)"
            )
        if instance.iscrowd not in (0, 1):
            raise ModelError(f"instance {instance.id}: iscrowd must be 0 or 1, got {instance.iscrowd!r}")

    # -- settings and extras --------------------------------------------------------------------------------
    def set_settings(self, **changes: Any) -> None:
        """Change project settings (e.g. ``segmentation_mode="rle"``)."""
        try:
            self.settings = dataclasses.replace(self.settings, **changes)
        except TypeError as exc:
            raise ModelError(f"invalid project setting: {exc}") from exc
        self._emit("settings_changed", info={"fields": tuple(changes)})

    def set_extra(self, key: str, value: Any) -> None:
        """Store a JSON value in ``project.extras[key]`` (saved and restored as is; ``None`` deletes it).

        The extension point for optional features (e.g. issue 5's review queue stores its state here).
        """
        if value is None:
            self.extras.pop(key, None)
        else:
            self.extras[key] = value
        self._emit("extras_changed", info={"key": key})

    def counters(self) -> tuple[int, int]:
        """``(next category id, next instance id)``, saved so ids are never reused."""
        return self._next_category_id, self._next_instance_id

    def restore_counters(self, next_category_id: int, next_instance_id: int) -> None:
        self._next_category_id = max(self._next_category_id, next_category_id)
        self._next_instance_id = max(self._next_instance_id, next_instance_id)
