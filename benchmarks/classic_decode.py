"""Classical engine decode benchmark (issue 13): one click's ``predict`` on a 2 MP image, and the GIL.

``.venv/bin/python -m benchmarks.classic_decode [--image PATH] [--size 1920x1080] [--repeats 5]
[--engine both|process|in-process] [--coarse 2]``

The image (default: the bundled ``rocket.jpg``) is resized to ``--size``; ``set_image`` runs once, then each
repeat times one ``predict`` with one positive point (``--point``, default the centre) and
``multimask_output=True`` (what the app's hover preview and a click ask), in a worker thread, while the main
thread ticks every 1 ms and records its longest gap between ticks: the longest time the decode kept the GIL
(what a GUI thread would stall; on a busy machine the gap also holds the time the ticker waited for a core,
which the ticker's longest gap alone for 0.5 s, printed first, shows). The engine runs in this process
(``ClassicSegmenter``), in its child process (``ProcessSegmenter``, what the app uses), or both in turn.
Figures: the median and the worst of the repeats, in milliseconds, with the CPU model, its vector flags and
the load printed first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.models import cpu_info
from sam_model.classic.segmenter import ClassicSegmenter
from sam_model.protocol import Segmenter

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO / "annotator" / "resources" / "samples" / "rocket.jpg"


def longest_gap_while(work: threading.Thread) -> float:
    """Start ``work`` and tick every 1 ms until it ends; the longest gap between ticks, in seconds."""
    longest, last = 0.0, time.perf_counter()
    work.start()
    while work.is_alive():
        time.sleep(0.001)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    work.join()
    return longest


def measure(engine: Segmenter, point: np.ndarray) -> tuple[float, float]:
    """One ``predict`` in a worker thread: ``(its wall time, the longest tick gap of this thread)`` in s."""
    elapsed: list[float] = []

    def decode() -> None:
        start = time.perf_counter()
        engine.predict(point, np.array([1]), multimask_output=True)
        elapsed.append(time.perf_counter() - start)

    gap = longest_gap_while(threading.Thread(target=decode))
    return elapsed[0], gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT the image is resized to")
    parser.add_argument("--point", default=None, help="X,Y of the click (default: the centre)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engine", choices=("both", "process", "in-process"), default="both")
    parser.add_argument("--coarse", type=int, default=None, help="ClassicSegmenter's coarse grid (1, 2 or 4)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {args.image}")
    image = cv2.cvtColor(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB)
    x, y = (width / 2, height / 2) if args.point is None else (float(v) for v in args.point.split(","))
    point = np.array([[x, y]])
    options = {} if args.coarse is None else {"coarse": args.coarse}

    cpu = cpu_info()
    flags = ", ".join(f for f, has in cpu["flags"].items() if has) or "none of interest"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cpu['model']}, {os.cpu_count()} CPUs, flags: {flags}; load {load:.1f}")
    print(f"{args.image.name} at {width}x{height}, click ({x:.0f}, {y:.0f}), options {options or 'default'}")
    idle = longest_gap_while(threading.Thread(target=time.sleep, args=(0.5,)))
    print(f"ticker alone for 0.5 s (scheduling noise of this machine): longest gap {idle * 1000:.0f} ms")
    kinds = ("in-process", "process") if args.engine == "both" else (args.engine,)
    for kind in kinds:
        engine = ClassicSegmenter(**options) if kind == "in-process" else _process_engine(options)
        start = time.perf_counter()
        engine.set_image(image)
        set_image_s = time.perf_counter() - start
        measure(engine, point)  # warm-up
        runs = [measure(engine, point) for _ in range(max(1, args.repeats))]
        walls, gaps = [r[0] * 1000 for r in runs], [r[1] * 1000 for r in runs]
        print(
            f"{kind:>10} ({engine.model_id}): set_image {set_image_s * 1000:.0f} ms; predict (1 point, multimask) "
            f"median {statistics.median(walls):.0f} ms, worst {max(walls):.0f} ms; longest GIL hold (1 ms "
            f"ticker's longest gap) median {statistics.median(gaps):.0f} ms, worst {max(gaps):.0f} ms "
            f"({len(runs)} repeats)"
        )
        close = getattr(engine, "close", None)
        if close is not None:
            close()


def _process_engine(options: dict[str, int]) -> Segmenter:
    from sam_model.classic.process import ProcessSegmenter

    return ProcessSegmenter(**options)


if __name__ == "__main__":
    main()
