"""Scale figures of issue 15 item 4: per-change cost with many objects on an image and many images in a project.

``python -m benchmarks.scale [--quick] [--objects N] [--images N] [--profile]`` (``make bench-scale``)

A project of ``--images`` image records and files (default 5,000) whose first image (a 1600 x 1200 frame)
holds ``--objects`` objects (default 2,000, discs of 8-40 px radius). Every step is timed ``--repeats`` times;
the figures are the median and the 95th percentile.

* core: the project behind a :class:`ProjectStore` with its :class:`Autosaver` (a save per change, as in the
  app) and an :class:`UndoStack`: accept one more object (push + autosave), undo it, redo it, select the
  topmost object under a random point (``instances_at`` + ``pick``); COCO export of the image's polygons
  (``auto`` mode); memory over 1,000 undo/redo steps (``tracemalloc``: growth between step 100 and 1,000).
* app (Qt offscreen): the real window over that folder (``create_controller`` + ``MainWindow``, classical
  engine): accept (a live mask set as a brush result would, then the Accept action), the Undo action, a click
  that selects an object and Escape's deselect, each until the window's events are processed (repaints
  included), in wall time and in the process's CPU time (``time.process_time``, steadier on a shared machine).
  No decode is timed: the live mask is set directly.

``--profile`` prints the top functions (cProfile, cumulative) of each app step. The CPU model, its vector
flags and the load average are printed first; record them with the figures in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pycocotools import mask as mask_utils

if TYPE_CHECKING:
    from annotator.core.masks import Mask

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WIDTH, HEIGHT = 1600, 1200
IMAGE = "a_image.png"
FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile")


def cpu_line() -> str:
    """CPU model, its vector flags among ``FLAGS``, core count and the 1/5/15-minute load."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown CPU", platform.processor()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    shown = " ".join(f for f in FLAGS if f in flags) or "n/a"
    return (
        f"CPU: {model}; flags: {shown}; {os.cpu_count()} CPUs; load {load}; python {sys.version.split()[0]}"
    )


def _disc_mask(rng: np.random.Generator) -> Mask:
    """A disc of radius 8-40 px somewhere on the image (a 32-gon rasterised by pycocotools: no H x W array)."""
    from annotator.core.masks import Mask

    r = float(rng.integers(8, 40))
    cx, cy = float(rng.integers(int(r), int(WIDTH - r))), float(rng.integers(int(r), int(HEIGHT - r)))
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    ring = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1).ravel().tolist()
    rle = mask_utils.frPyObjects([ring], HEIGHT, WIDTH)[0]
    return Mask.from_json({"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")})


def _disc(rng: np.random.Generator) -> np.ndarray:
    """:func:`_disc_mask` as an ``H x W`` bool array (what a live mask is)."""
    return _disc_mask(rng).array().copy()


def build_folder(root: Path, objects: int, images: int) -> Path:
    """The benchmark folder: one image file, ``images`` records, ``objects`` objects on the first; saved."""
    from PIL import Image

    from annotator.core.project_store import ProjectStore

    folder = root / "scale"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(folder / IMAGE)
    store = ProjectStore.open(folder)
    project = store.project
    category = project.add_category("object")
    project.add_image(IMAGE, WIDTH, HEIGHT)
    small = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(small, format="PNG")
    for n in range(1, images):  # real files: a folder rescan finds them all
        (folder / f"img_{n:05d}.png").write_bytes(small.getvalue())
        project.add_image(f"img_{n:05d}.png", 64, 48)
    for _ in range(objects):
        project.add_instance(IMAGE, project.new_instance(_disc_mask(rng), category.id))
    store.save()
    return folder


def stats(name: str, seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return f"{name}: median {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms"


def timed(step: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        out.append(time.perf_counter() - start)
    return out


def core_run(folder: Path, repeats: int, steps: int) -> None:
    from annotator.core.coco import export_coco
    from annotator.core.project_store import Autosaver, ProjectStore
    from annotator.core.selection import instances_at, pick
    from annotator.core.undo import AddInstanceCommand, UndoStack

    start = time.perf_counter()
    store = ProjectStore.open(folder)
    print(f"core open: {time.perf_counter() - start:.2f} s")
    project, stack = store.project, UndoStack()
    saver = Autosaver(store)
    category = project.categories[0]
    rng = np.random.default_rng(1)
    masks = [_disc_mask(rng) for _ in range(repeats)]
    it = iter(masks)
    add = lambda: stack.push(  # noqa: E731
        AddInstanceCommand(project, IMAGE, project.new_instance(next(it), category.id))
    )
    print(stats("core accept (push + autosave)", timed(add, repeats)))
    print(stats("core undo (+ autosave)", timed(stack.undo, repeats)))
    print(stats("core redo (+ autosave)", timed(stack.redo, repeats)))
    record = project.image(IMAGE)
    points = [(random.uniform(0, WIDTH), random.uniform(0, HEIGHT)) for _ in range(repeats)]
    pts = iter(points)

    def select() -> None:
        x, y = next(pts)
        pick(instances_at(record.instances, x, y), None, cycle=False)

    print(stats("core select (hit test)", timed(select, repeats)))
    print(f"core last save: {saver.last_duration_s * 1e3:.1f} ms ({saver.save_count} saves)")
    start = time.perf_counter()
    report = export_coco(project, folder / "export.json")
    print(f"core COCO export: {time.perf_counter() - start:.2f} s ({report.summary()})")

    tracemalloc.start()
    base = 0
    for n in range(steps):
        (stack.undo if n % 2 == 0 else stack.redo)()
        if n == 99:
            base = tracemalloc.get_traced_memory()[0]
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"core memory over {steps} undo/redo steps: {(current - base) / 1024:+.0f} KiB from step 100 to "
        f"{steps} (traced peak {peak / 2**20:.1f} MiB)"
    )
    saver.close()
    store.close()


def app_run(folder: Path, repeats: int, profile: bool) -> None:
    from PySide6.QtWidgets import QApplication

    from annotator.ui.app import create_controller
    from annotator.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])

    from benchmarks.switching import wait as wait_for  # run the event loop until a condition holds

    def wait(condition: Callable[[], bool]) -> None:
        wait_for(condition, timeout_s=120.0)

    start = time.perf_counter()
    controller, _ = create_controller(folder)
    window = MainWindow(controller)
    window.resize(1400, 900)
    window.show()
    controller.open_image(IMAGE)
    wait(lambda: controller.current_image is not None)
    app.processEvents()
    print(f"app open (window, project, first image): {time.perf_counter() - start:.2f} s")
    actions = window.actions_by_id
    rng = np.random.default_rng(2)

    def settle() -> None:  # queued signals, then the repaints they asked for (the offscreen backing store)
        app.processEvents()
        app.processEvents()

    def accept(timed_into: list[float] | None = None, cpu_into: list[float] | None = None) -> None:
        controller.set_live_override(_disc(rng))
        settle()
        start, cpu = time.perf_counter(), time.process_time()
        actions["accept"].trigger()
        settle()
        if timed_into is not None and cpu_into is not None:
            timed_into.append(time.perf_counter() - start)
            cpu_into.append(time.process_time() - cpu)

    def undo() -> None:
        actions["undo"].trigger()
        settle()

    def select() -> None:
        inst = controller.current_instances()[int(rng.integers(0, 100))]
        x, y, w, h = inst.mask.bbox
        controller.click(x + w / 2, y + h / 2, 1)
        settle()

    def deselect() -> None:
        controller.select_instance(None)
        settle()

    # (name, the timed step, what runs untimed before it)
    steps: list[tuple[str, Callable[[], None], Callable[[], None] | None]] = [
        ("accept (Accept action, live mask set)", accept, None),
        ("select (click on an object)", select, deselect),
        ("deselect (Esc)", deselect, select),
        ("undo (Undo action)", undo, accept),
    ]
    for name, step, before in steps:
        times: list[float] = []
        cpu_times: list[
            float
        ] = []  # process CPU time (all threads): less noisy than wall time on a busy machine
        profiler = cProfile.Profile() if profile else None
        for _ in range(repeats):
            if before is not None:
                before()
            if profiler is not None:
                profiler.enable()
            if step is accept:
                accept(times, cpu_times)
            else:
                start, cpu = time.perf_counter(), time.process_time()
                step()
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu)
            if profiler is not None:
                profiler.disable()
        print(stats(f"app {name}", times))
        print(stats(f"app {name}, CPU time", cpu_times))
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(
                os.environ.get("BENCH_SORT", "cumulative")
            ).print_stats(18)
            print("\n".join(out.getvalue().splitlines()[6:30]))
    saver = controller.autosaver
    if saver is not None:
        print(f"app last autosave: {saver.last_duration_s * 1e3:.1f} ms")
    controller.discard_unaccepted()
    window.close()
    controller.shutdown()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="300 objects, 500 images, few repeats")
    parser.add_argument("--objects", type=int, default=None)
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--profile", action="store_true", help="cProfile each app step")
    parser.add_argument("--no-app", action="store_true", help="core figures only")
    args = parser.parse_args()
    objects = args.objects or (300 if args.quick else 2000)
    images = args.images or (500 if args.quick else 5000)
    repeats = args.repeats or (5 if args.quick else 20)
    steps = 200 if args.quick else 1000
    print(cpu_line())
    print(f"scale: {objects} objects on a {WIDTH}x{HEIGHT} image, {images} images in the project")
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = build_folder(Path(tmp), objects, images)
        print(f"setup: {time.perf_counter() - start:.1f} s")
        core_run(folder, repeats, steps)
        if not args.no_app:
            app_run(folder, repeats, args.profile)


if __name__ == "__main__":
    main()
