"""Issue 15, item 2 (core): a restore from the backup is written at once and never overwrites the only good
copy; a permission error is reported, not rolled back; hostile project files fall back to the backup with a
typed error; temporary files of killed saves are removed on the next open."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from annotator.core.errors import ProjectAccessError, ProjectFileError
from annotator.core.project_store import ProjectStore, backup_file, load_project, sync_images
from tests.core.helpers import add, disc, write_image


def _saved_twice(tmp_path: Path) -> tuple[ProjectStore, int]:
    """A store whose file and backup both hold one instance."""
    write_image(tmp_path / "img0.png")
    store = ProjectStore.open(tmp_path)
    sync_images(store.project)
    store.project.add_category("cat")
    iid = add(store.project, "img0.png", disc(60, 80, 20, 20, 6))
    store.save()
    store.save()
    return store, iid


def _ids(store: ProjectStore) -> list[int]:
    return [i.id for i in store.project.image("img0.png").instances]


def test_restore_from_backup_is_written_at_once(tmp_path: Path) -> None:
    """Finding: after a restore no project.json was written; the next open started an empty project."""
    store, iid = _saved_twice(tmp_path)
    store.path.write_bytes(b'{"version": 1, "form')  # truncated
    restored = ProjectStore.open(tmp_path)
    assert _ids(restored) == [iid] and "backup" in restored.warnings[0]
    assert [i.id for i in load_project(store.path).image("img0.png").instances] == [iid]  # on disk now
    again = ProjectStore.open(tmp_path)  # e.g. `export`, or a crash before the first edit
    assert _ids(again) == [iid] and not again.warnings


def test_two_saves_after_a_restore_keep_the_recovered_objects(tmp_path: Path) -> None:
    """Finding: the next two saves overwrote the backup; the recovered objects were gone."""
    store, iid = _saved_twice(tmp_path)
    store.path.write_text("not json")
    restored = ProjectStore.open(tmp_path)
    restored.save()
    restored.save()
    for path in (restored.path, backup_file(restored.path)):
        assert [i.id for i in load_project(path).image("img0.png").instances] == [iid]


def test_missing_project_file_with_a_backup_restores_it(tmp_path: Path) -> None:
    """A crash between moving the broken file away and writing the restored one leaves only the backup."""
    store, iid = _saved_twice(tmp_path)
    store.path.unlink()
    restored = ProjectStore.open(tmp_path)
    assert _ids(restored) == [iid] and "backup" in restored.warnings[0]
    assert store.path.is_file()


def test_restore_that_cannot_be_written_keeps_the_backup(tmp_path: Path, monkeypatch) -> None:
    store, iid = _saved_twice(tmp_path)
    good_backup = backup_file(store.path).read_bytes()
    store.path.write_text("not json")
    import annotator.core.project_store as ps

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ps, "atomic_write_bytes", refuse)
    restored = ProjectStore.open(tmp_path)
    assert _ids(restored) == [iid] and restored.needs_save
    assert "could not be written" in restored.warnings[0]
    assert backup_file(store.path).read_bytes() == good_backup
    monkeypatch.undo()
    restored.save()
    assert backup_file(store.path).read_bytes() == good_backup  # the only good copy is never overwritten
    assert _ids(ProjectStore.open(tmp_path)) == [iid]


def test_permission_error_is_reported_not_rolled_back(tmp_path: Path, monkeypatch) -> None:
    """Finding: an unreadable (permission) file was treated as broken and rolled back to the older backup."""
    import builtins
    import io

    store, _ = _saved_twice(tmp_path)
    add(store.project, "img0.png", disc(60, 80, 50, 30, 6))
    store.save()  # the file has two instances, the backup one
    newest = store.path.read_bytes()
    real_open = builtins.open

    def denied(file, *args, **kwargs):  # as chmod 000 does for a normal user (the tests may run as root)
        if Path(file) == store.path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    monkeypatch.setattr(io, "open", denied)
    with pytest.raises(ProjectAccessError, match="ermission") as info:
        ProjectStore.open(tmp_path)
    monkeypatch.undo()
    assert str(store.path) in str(info.value)
    assert not list(store.path.parent.glob("*.broken-*"))
    assert store.path.read_bytes() == newest


@pytest.mark.parametrize(
    "hostile",
    [
        lambda d: {**d, "extras": "DEEP"},
        lambda d: {**d, "next_instance_id": 10**5000},
        lambda d: {**d, "next_instance_id": float("inf")},
        lambda d: {**d, "images": [{**d["images"][0], "width": float("nan")}]},
    ],
    ids=["deep", "5000-digit-id", "infinity", "nan"],
)
def test_hostile_project_file_falls_back_to_the_backup(tmp_path: Path, hostile) -> None:
    """Finding: deep nesting, Infinity or a 5,000-digit id crashed the start; the backup was never tried."""
    import sys

    store, iid = _saved_twice(tmp_path)
    data = hostile(json.loads(store.path.read_text()))
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        text = json.dumps(data)
    finally:
        sys.set_int_max_str_digits(old)
    store.path.write_text(text.replace('"DEEP"', "[" * 5000 + "]" * 5000))
    with pytest.raises(ProjectFileError):
        load_project(store.path)
    restored = ProjectStore.open(tmp_path)
    assert _ids(restored) == [iid] and "backup" in restored.warnings[0]


def test_temp_files_of_killed_saves_are_removed_on_open(tmp_path: Path) -> None:
    """Finding: killed saves left their temporary files behind forever."""
    store, _ = _saved_twice(tmp_path)
    folder = store.path.parent
    dead = [folder / ".project.json.tmp-999999999", folder / ".project.json.bak.tmp-999999998"]
    for path in dead:
        path.write_bytes(b"x" * 100)
    mine = folder / f".project.json.tmp-{os.getpid()}"  # a save of this process in flight: kept
    mine.write_bytes(b"y")
    ProjectStore.open(tmp_path)
    assert not any(p.exists() for p in dead)
    assert mine.exists()
