"""Per-change work independent of how many objects exist (issue 15 item 4), checked by counting, not timing:
saves serialise only what changed, one change decodes no other object's mask, the label image repaints only
the changed object's box, and undo/redo keeps no growing garbage."""

from __future__ import annotations

import gc
import json

import numpy as np
import pytest

from annotator.core import masks as masks_module
from annotator.core.box_index import BoxIndex
from annotator.core.label_image import ColorSlots, LabelCompositor, LabelItem
from annotator.core.masks import Mask, _runs_array, _string_counts, decode_rle_crop
from annotator.core.model import ImageStatus, Instance, Project
from annotator.core.object_colors import ObjectColors
from annotator.core.project_format import project_to_dict
from annotator.core.project_store import Autosaver, ProjectStore, load_project
from annotator.core.project_text import ProjectText
from annotator.core.selection import instances_at, object_colors
from annotator.core.undo import AddInstanceCommand, RemoveInstanceCommand, UndoStack, set_hidden_command

H, W = 60, 80


def _blob(rng: np.random.Generator) -> Mask:
    mask = np.zeros((H, W), bool)
    x, y = int(rng.integers(0, W - 8)), int(rng.integers(0, H - 8))
    mask[y : y + int(rng.integers(2, 8)), x : x + int(rng.integers(2, 8))] = True
    return Mask.from_array(mask)


def _project(tmp_path, objects: int = 40, images: int = 30) -> tuple[ProjectStore, Project]:
    store = ProjectStore.open(tmp_path)
    project = store.project
    category = project.add_category("thing")
    for n in range(images):
        project.add_image(f"img{n:03d}.png", W, H)
    rng = np.random.default_rng(0)
    for _ in range(objects):
        project.add_instance("img000.png", project.new_instance(_blob(rng), category.id))
    return store, project


def _full_text(project: Project, root: str = "..") -> str:
    return json.dumps(project_to_dict(project, root), separators=(",", ":"))


def test_cached_text_equals_full_serialisation_after_every_kind_of_change(tmp_path) -> None:
    store, project = _project(tmp_path)
    text = ProjectText(project)
    rng = np.random.default_rng(1)
    category = project.categories[0]
    assert text.text("..") == _full_text(project)
    changes = [
        lambda: project.add_instance("img003.png", project.new_instance(_blob(rng), category.id)),
        lambda: project.remove_instance("img000.png", project.image("img000.png").instances[5].id),
        lambda: project.replace_instance(
            "img000.png", project.image("img000.png").instances[0].replace(hidden=True)
        ),
        lambda: project.set_image_status("img007.png", ImageStatus.DONE),
        lambda: project.set_image_extra("img008.png", "note", {"a": 1}),
        lambda: project.update_image("img009.png", metadata={"exif_orientation": 6}),
        lambda: project.add_category("other"),
        lambda: project.set_extra("review", {"x": [1, 2]}),
        lambda: project.set_settings(segmentation_mode="rle"),
        lambda: project.add_image("late.png", W, H),
    ]
    for change in changes:
        change()
        assert text.text("..") == _full_text(project)
    # Changes made while events are blocked and never announced are still saved (record versions).
    with project.events.blocked():
        project.add_instance("img004.png", project.new_instance(_blob(rng), category.id))
        project.set_image_status("img005.png", ImageStatus.IN_PROGRESS)
    assert text.text("..") == _full_text(project)
    store.close()


def test_a_save_serialises_only_the_changed_object_and_image(tmp_path) -> None:
    store, project = _project(tmp_path, objects=60)
    saver = Autosaver(store)
    stack = UndoStack()
    store.save()  # everything serialised once
    new = project.new_instance(_blob(np.random.default_rng(2)), project.categories[0].id)
    stack.push(AddInstanceCommand(project, "img000.png", new))
    assert store.text.serialised == {"instances": 1, "images": 1}
    stack.undo()
    assert store.text.serialised == {"instances": 0, "images": 1}
    stack.redo()
    assert store.text.serialised == {"instances": 1, "images": 1}
    target = project.image("img000.png").instances[10].id
    stack.push(set_hidden_command(project, "img000.png", target, True))
    assert store.text.serialised == {"instances": 1, "images": 1}
    saver.close()
    reopened = load_project(store.path, root=tmp_path)
    assert _full_text(reopened, "x") == _full_text(project, "x")
    store.close()


def test_accepting_undoing_and_hit_testing_decode_no_other_mask(tmp_path) -> None:
    store, project = _project(tmp_path, objects=80)
    saver = Autosaver(store)
    stack = UndoStack()
    record = project.image("img000.png")
    masks_module.DECODE_CACHE.clear()
    masks_module.CROP_CACHE.clear()
    before = dict(masks_module.DECODE_COUNTS)
    new = project.new_instance(_blob(np.random.default_rng(3)), 1)
    stack.push(AddInstanceCommand(project, "img000.png", new))
    stack.undo()
    stack.redo()
    assert before == masks_module.DECODE_COUNTS  # saving never decodes
    x, y, w, h = new.mask.bbox
    hits = instances_at(record.instances, x + w // 2, y + h // 2)
    assert hits[0] == new.id
    boxes_hit = sum(
        1
        for inst in record.instances
        if inst.mask.bbox[0] <= x + w // 2 < inst.mask.bbox[0] + inst.mask.bbox[2]
        and inst.mask.bbox[1] <= y + h // 2 < inst.mask.bbox[1] + inst.mask.bbox[3]
    )
    assert masks_module.DECODE_COUNTS["full"] == before["full"]  # crops only
    assert masks_module.DECODE_COUNTS["crop"] - before["crop"] == boxes_hit < len(record.instances)
    saver.close()
    store.close()


def test_crop_decoding_matches_the_full_mask() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        array = rng.random((h, w)) < rng.random()
        if rng.random() < 0.2:
            array[:] = rng.random() < 0.5
        mask = Mask.from_array(array)
        assert _runs_array(mask.rle["counts"]).tolist() == _string_counts(mask.rle["counts"])
        x, y, bw, bh = mask.bbox
        assert np.array_equal(mask.crop(), array[y : y + bh, x : x + bw])
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = (x0, y0, int(rng.integers(1, w - x0 + 1)), int(rng.integers(1, h - y0 + 1)))
        assert np.array_equal(decode_rle_crop(mask.rle, box), array[y0 : y0 + box[3], x0 : x0 + box[2]])
        if bw:
            col, row = x + int(rng.integers(0, bw)), y + int(rng.integers(0, bh))
            assert mask.contains(col, row) == bool(array[row, col])
        assert not mask.contains(-1, 0) and not mask.contains(w, h)


def _full_render(items: list[LabelItem]) -> np.ndarray:
    return LabelCompositor().render((H, W), items).copy()


def test_label_image_repaints_only_the_changed_box_and_stays_exact() -> None:
    rng = np.random.default_rng(5)
    items = [LabelItem(i, _blob(rng), 1 + i % 5) for i in range(150)]
    compositor = LabelCompositor()
    compositor.render((H, W), items)
    assert compositor.dirty is None and compositor.painted == len(items)
    added = LabelItem(999, _blob(rng), 7)
    x, y, w, h = added.mask.bbox
    overlapping = sum(
        1
        for i in [*items, added]
        if i.mask.bbox[0] < x + w
        and i.mask.bbox[0] + i.mask.bbox[2] > x
        and i.mask.bbox[1] < y + h
        and i.mask.bbox[1] + i.mask.bbox[3] > y
    )
    labels = compositor.render((H, W), [*items, added])
    assert compositor.dirty == [(x, y, x + w, y + h)]
    assert compositor.painted == overlapping < len(items)
    assert np.array_equal(labels, _full_render([*items, added]))
    # A random walk of adds, removals, relabels (selection) and mask edits: always equal to a fresh render.
    current = [*items, added]
    for step in range(60):
        kind = step % 4
        if kind == 0:
            current.append(LabelItem(2000 + step, _blob(rng), int(rng.integers(1, 9))))
        elif kind == 1:
            current.pop(int(rng.integers(0, len(current))))
        elif kind == 2:
            k = int(rng.integers(0, len(current)))
            current[k] = LabelItem(current[k].instance_id, current[k].mask, 255)
        else:
            k = int(rng.integers(0, len(current)))
            current[k] = LabelItem(current[k].instance_id, _blob(rng), current[k].label)
        assert np.array_equal(compositor.render((H, W), current), _full_render(current))
        assert compositor.painted < len(current)


def test_colour_slots_are_stable_and_report_reuse() -> None:
    slots = ColorSlots(last=3)
    slots.begin()
    assert (slots.label((1, 0, 0)), slots.label((0, 1, 0)), slots.label((1, 0, 0))) == (1, 2, 1)
    assert not slots.changed
    assert slots.label((0, 0, 1)) == 3 and not slots.changed  # the last slot, first use
    slots.begin()
    assert slots.label((9, 9, 9)) == 3 and slots.changed  # shared last slot: its colour changed


def _live(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


@pytest.mark.parametrize("steps", [1000])
def test_undo_redo_steps_retain_no_growing_objects(tmp_path, steps) -> None:
    store, project = _project(tmp_path, objects=30, images=5)
    saver = Autosaver(store)
    stack = UndoStack()
    rng = np.random.default_rng(6)
    for _ in range(20):
        stack.push(AddInstanceCommand(project, "img001.png", project.new_instance(_blob(rng), 1)))
    stack.push(RemoveInstanceCommand(project, "img000.png", project.image("img000.png").instances[0].id))
    for n in range(100):  # warm up: every cache filled once
        (stack.undo if n % 2 == 0 else stack.redo)()
    gc.collect()
    counts = (_live(Instance), _live(Mask), _live(dict), _live(str))
    for n in range(steps):
        (stack.undo if n % 2 == 0 else stack.redo)()
    gc.collect()
    after = (_live(Instance), _live(Mask), _live(dict), _live(str))
    assert after[:2] == counts[:2]
    assert after[2] - counts[2] < 50 and after[3] - counts[3] < 50
    saver.close()
    store.close()


def test_one_object_edits_of_the_label_image_paint_its_box_only_and_stay_exact() -> None:
    rng = np.random.default_rng(7)
    items = [LabelItem(i, _blob(rng), 1 + i % 5) for i in range(300)]
    compositor = LabelCompositor()
    compositor.render((H, W), items)
    new = LabelItem(300, _blob(rng), 3)
    compositor.insert(len(items), new)
    items.append(new)
    assert compositor.dirty == [_box_of(new.mask)] and compositor.painted <= 300 // 4
    assert np.array_equal(compositor.labels, _full_render(items))
    removed = items.pop(120)
    compositor.remove(removed.instance_id)  # a removal in the middle: its box only
    assert compositor.dirty == [_box_of(removed.mask)]
    assert np.array_equal(compositor.labels, _full_render(items))
    hidden = items[40]._replace(label=0)  # hidden: kept in its place, not painted
    compositor.update(hidden)
    items[40] = hidden
    assert np.array_equal(compositor.labels, _full_render(items))
    restored = LabelItem(999, _blob(rng), 2)
    compositor.insert(10, restored)  # an undo restoring an object below others
    items.insert(10, restored)
    assert np.array_equal(compositor.labels, _full_render(items))


def _box_of(mask: Mask) -> tuple[int, int, int, int]:
    x, y, w, h = mask.bbox
    return x, y, x + w, y + h


def test_object_colours_follow_one_change_without_recomputing() -> None:
    rng = np.random.default_rng(8)
    red, blue = (200, 30, 30), (30, 30, 200)
    instances = [Instance(i, 1 + i % 2, _blob(rng)) for i in range(1, 2001)]
    colors = ObjectColors()
    colors.rebuild(instances, {1: red, 2: blue})
    new = Instance(2001, 1, _blob(rng))
    instances.append(new)
    assert colors.added(new, True, lambda: pytest.fail("no recomputation")) == set()
    assert colors.colors == object_colors(instances, {1: red, 2: blue})
    instances.pop()
    assert colors.removed(2001, 1, lambda: pytest.fail("no recomputation")) == set()
    assert colors.colors == object_colors(instances, {1: red, 2: blue}) and colors.rebuilds == 1
    middle = instances.pop(10)  # a delete in the middle shifts the shades of its category's later objects
    changed = colors.removed(middle.id, middle.category_id, lambda: instances)
    assert colors.colors == object_colors(instances, {1: red, 2: blue}) and colors.rebuilds == 2
    by_id = {inst.id: inst for inst in instances}
    assert middle.id in changed and all(
        by_id[i].category_id == middle.category_id for i in changed - {middle.id}
    )


def test_box_index_finds_overlaps_in_drawing_order() -> None:
    index = BoxIndex()
    index.reset([(1, (0, 0, 10, 10)), (2, (5, 5, 20, 20)), (3, (30, 30, 40, 40))])
    assert index.overlapping((8, 8, 9, 9)) == [1, 2]
    assert (
        index.overlapping_any([(31, 31, 32, 32), (1, 1, 2, 2)]) == [1, 3] and index.overlapping_any([]) == []
    )
    index.insert(0, 4, (0, 0, 50, 50))
    assert index.overlapping((31, 31, 32, 32)) == [4, 3]
    assert index.remove(2) == 2 and index.ids == [4, 1, 3]
    index.replace(1, (35, 35, 36, 36))
    assert index.overlapping((35, 35, 36, 36)) == [4, 1, 3]
