"""Issue 15 figures: SIGKILL trials, two-writer trials, disk-full trials, scale, peak memory on hostile input.

``python -m benchmarks.reliability`` runs a short version (a minute); ``--full`` runs the counts of the issue
(300 kills, 100 two-writer trials, 2,000 objects on an image). Each figure is printed as one line; record
them in docs/BENCHMARKS.md with the command and the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.models import cpu_info

REPO = Path(__file__).resolve().parents[1]

_WRITER = r"""
import sys, time
import numpy as np, cv2
from annotator.core.masks import Mask
from annotator.core.project_lock import ProjectLock, ProjectLockedError
from annotator.core.project_store import Autosaver, ProjectStore, default_project_file
folder = sys.argv[1]
lock = ProjectLock(default_project_file(folder))
try:
    lock.acquire()
except ProjectLockedError as exc:
    print("LOCKED", exc, flush=True); sys.exit(3)
store = ProjectStore.open(folder)
saver = Autosaver(store)
if not store.project.categories:
    store.project.add_category("cat")
rng = np.random.default_rng()
for n in range(int(sys.argv[2])):
    m = np.zeros((120, 160), np.uint8)
    cv2.circle(m, (int(rng.integers(10, 150)), int(rng.integers(10, 110))), 8, 1, -1)
    inst = store.project.new_instance(Mask.from_array(m.astype(bool)), store.project.categories[0].id)
    store.project.add_instance("img.png", inst)  # saved when this returns (Autosaver)
    print("ACCEPTED", inst.id, flush=True)
lock.release()
"""


def _folder(root: Path) -> Path:
    folder = Path(tempfile.mkdtemp(dir=root))
    Image.fromarray(np.zeros((120, 160, 3), np.uint8)).save(folder / "img.png")
    from annotator.core.project_store import ProjectStore, sync_images

    store = ProjectStore.open(folder)
    sync_images(store.project)
    store.save()
    return folder


def _saved_ids(folder: Path) -> set[int]:
    from annotator.core.project_store import ProjectStore

    return {i.id for i in ProjectStore.open(folder).project.iter_instances()}


def _accepted(out: bytes) -> set[int]:
    return {int(line.split()[1]) for line in out.decode().splitlines() if line.startswith("ACCEPTED")}


def sigkill_trials(root: Path, trials: int) -> None:
    lost = 0
    for _ in range(trials):
        folder = _folder(root)
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(folder), "1000"], stdout=subprocess.PIPE, cwd=REPO
        )
        time.sleep(random.uniform(0.5, 2.0))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        lost += len(_accepted(out) - _saved_ids(folder))
    print(f"SIGKILL trials: {trials}, lost accepted instances: {lost}")


def two_writer_trials(root: Path, trials: int) -> None:
    lost = refused = 0
    for _ in range(trials):
        folder = _folder(root)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(folder), "20"], stdout=subprocess.PIPE, cwd=REPO
            )
            for _ in range(2)
        ]
        outs = [p.communicate()[0] for p in procs]
        refused += sum(p.returncode == 3 for p in procs)
        accepted = set().union(*(_accepted(o) for o in outs))
        lost += len(accepted - _saved_ids(folder))
    print(f"two-writer trials: {trials}, second writer refused: {refused}, lost: {lost}")


def disk_full_trials(root: Path, trials: int) -> None:
    import annotator.core.project_store as ps
    from annotator.core.masks import Mask
    from annotator.core.project_store import Autosaver, ProjectStore

    lost = 0
    real = ps.atomic_write_bytes
    for _ in range(trials):
        folder = _folder(root)
        store = ProjectStore.open(folder)
        saver = Autosaver(store)
        saver.events.connect(lambda _e: None)  # a listener: failures are events, as in the app
        category = store.project.add_category("cat")
        ids = []
        for n in range(20):
            full = 5 <= n < 15
            ps.atomic_write_bytes = _refuse if full else real
            mask = np.zeros((120, 160), bool)
            mask[n : n + 5, n : n + 5] = True
            inst = store.project.new_instance(Mask.from_array(mask), category.id)
            store.project.add_instance("img.png", inst)
            ids.append(inst.id)
        ps.atomic_write_bytes = real
        saver.flush()
        lost += len(set(ids) - _saved_ids(folder))
    print(
        f"disk-full trials: {trials} (saves refused for 10 of 20 objects), lost after space returns: {lost}"
    )


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise OSError(28, "No space left on device")


def scale(root: Path, objects: int) -> None:
    from annotator.core.coco import export_coco
    from annotator.core.masks import Mask
    from annotator.core.model import Project
    from annotator.core.undo import AddInstanceCommand, UndoStack

    folder = _folder(root)
    project = Project(folder)
    project.add_image("img.png", 160, 120)
    category = project.add_category("cat")
    stack = UndoStack()
    rng = np.random.default_rng(0)
    times = []
    for _ in range(objects):
        mask = np.zeros((120, 160), bool)
        x, y = rng.integers(0, 150), rng.integers(0, 110)
        mask[y : y + 8, x : x + 8] = True
        start = time.perf_counter()
        stack.push(
            AddInstanceCommand(project, "img.png", project.new_instance(Mask.from_array(mask), category.id))
        )
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    stack.undo()
    undo = time.perf_counter() - start
    start = time.perf_counter()
    export_coco(project, folder / "out.json")
    export = time.perf_counter() - start
    print(
        f"scale: {objects} objects on one image: accept median {np.median(times) * 1e3:.2f} ms, "
        f"last {times[-1] * 1e3:.2f} ms; undo {undo * 1e3:.2f} ms; export {export:.2f} s (no autosave)"
    )


_HOSTILE = {
    "deep JSON (COCO)": "import_coco(p, write('{\"images\": ' + '[' * 200000 + ']' * 200000 + '}'))",
    "RLE huge counts": "import_coco(p, coco({'size': [60, 80], 'counts': [2**62, 2**62]}))",
    "polygon 1e8": "import_coco(p, coco([[0, 0, 1e8, 0, 1e8, 1e8]]))",
    "RLE 60000x60000": "import_coco(p, coco({'size': [60000, 60000], 'counts': '0' * 10}))",
    "PNG 12000x12000 header": "load(png(12000, 12000))",
}

_HOSTILE_PRELUDE = r"""
import json, resource, sys, zlib, tempfile
from pathlib import Path
from annotator.core.coco_import import import_coco
from annotator.core.errors import CoreError
from annotator.core.images import load_image as load
from annotator.core.model import Project
import numpy as np
from PIL import Image
d = Path(tempfile.mkdtemp())
Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(d / 'img0.png')
p = Project(d); p.add_category('cat'); p.add_image('img0.png', 80, 60)
def write(text):
    (d / 'h.json').write_text(text); return d / 'h.json'
def coco(seg):
    return write(json.dumps({'images': [{'id': 1, 'file_name': 'img0.png', 'width': 80, 'height': 60}],
        'categories': [{'id': 1, 'name': 'cat'}], 'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1,
        'segmentation': seg}]}))
def png(w, h):
    def chunk(k, data):
        return len(data).to_bytes(4, 'big') + k + data + zlib.crc32(k + data).to_bytes(4, 'big')
    hdr = w.to_bytes(4, 'big') + h.to_bytes(4, 'big') + bytes([8, 2, 0, 0, 0])
    (d / 'big.png').write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', hdr) + chunk(b'IDAT', zlib.compress(b'\0' * 100))
        + chunk(b'IEND', b''))
    return d / 'big.png'
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    r = CASE
    result = str(r.errors[0] if getattr(r, 'errors', None) else r)[:100]
except CoreError as exc:
    result = 'refused: ' + str(exc).split(': ', 1)[-1][:80]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({'result': result, 'peak_mib': peak / 1024, 'growth_mib': (peak - base) / 1024}))
"""


def hostile_memory() -> None:
    for name, case in _HOSTILE.items():
        code = _HOSTILE_PRELUDE.replace("CASE", case)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600
        )
        if done.returncode != 0:
            print(f"hostile {name}: exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
            continue
        info = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"hostile {name}: peak RSS {info['peak_mib']:.0f} MiB (+{info['growth_mib']:.0f} MiB); {info['result']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's counts (takes long)")
    args = parser.parse_args()
    kills, writers, full_disk, objects = (300, 100, 20, 2000) if args.full else (5, 3, 2, 200)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sigkill_trials(root, kills)
        two_writer_trials(root, writers)
        disk_full_trials(root, full_disk)
        scale(root, objects)
    hostile_memory()
    cpu = cpu_info()
    flags = ", ".join(f for f, has in cpu["flags"].items() if has) or "none of interest"
    print(f"python {sys.version.split()[0]}, {cpu['model']} ({flags}), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
