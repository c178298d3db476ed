"""Time from "image opened" to "first mask": embedding in the disk cache vs a cold encode.

``.venv/bin/python -m benchmarks.cache [--repeats N] [--models tiny,vit_b] [--device cpu] [--image PATH]``

Models: ``tiny`` is the reference tiny SAM (``reference/sam/sam_tiny_a.pth``, ViT 96 wide, 4 blocks);
``vit_b`` is a ViT-B-sized SAM with random weights (``build_sam("vit_b")``, seeded, ``model_id``
``vit_b-random-seed0``): the speed of a real ViT-B checkpoint, without one.

Each path starts from the image file and ends with the masks of one click:

* cold: decode the file, hash the pixels (cache key), look up the cache (miss), ``set_image`` (the encoder),
  ``predict``; storing the new embedding (``put``) is timed separately, it happens after the first mask;
* cached: decode, hash, ``cache.get`` (read + validate the ``.npz``), ``set_embedding``, ``predict``.

Figures are medians over ``--repeats`` runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from annotator.core.embedding_cache import EmbeddingCache, image_key
from annotator.core.images import load_image
from sam_model.protocol import Segmenter

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_IMAGE = SHARED / "datasets" / "grabcut" / "images" / "llama.bmp"
PHASES = ("decode", "key", "lookup", "model", "predict")


def _tiny(device: str) -> Segmenter:
    from sam_model.build import load_predictor

    return load_predictor(SHARED / "reference" / "sam" / "sam_tiny_a.pth", device=device)


def _vit_b_random(device: str) -> Segmenter:
    import torch

    from sam_model.sam.build import build_sam
    from sam_model.sam.predictor import SamPredictor

    torch.manual_seed(0)
    return SamPredictor(build_sam("vit_b", device=device), model_id="vit_b-random-seed0")


MODELS: dict[str, Callable[[str], Segmenter]] = {"tiny": _tiny, "vit_b": _vit_b_random}


def _first_mask(
    engine: Segmenter, path: Path, cache: EmbeddingCache, point: np.ndarray
) -> tuple[dict[str, float], float, bool]:
    """Open ``path`` and produce the first mask; returns phase times (ms), the ``put`` time (ms), and hit."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    rgb = load_image(path).rgb
    t1 = time.perf_counter()
    key = image_key(rgb)
    t2 = time.perf_counter()
    embedding = cache.get(key, engine.model_id)
    t3 = time.perf_counter()
    if embedding is not None:
        engine.set_embedding(embedding)
    else:
        engine.set_image(rgb)
    t4 = time.perf_counter()
    engine.predict(point, np.array([1]), multimask_output=True)
    t5 = time.perf_counter()
    put_ms = 0.0
    if embedding is None:
        cache.put(key, engine.get_embedding())
        put_ms = (time.perf_counter() - t5) * 1e3
    for name, (a, b) in zip(PHASES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)), strict=True):
        times[name] = (b - a) * 1e3
    return times, put_ms, embedding is not None


def bench(name: str, engine: Segmenter, image: Path, repeats: int, workdir: Path) -> list[str]:
    """Rows of the table for one model: cold and cached."""
    cache = EmbeddingCache(workdir / name, max_bytes=2**30)
    h, w = load_image(image).rgb.shape[:2]
    point = np.array([[w / 2, h / 2]], dtype=np.float64)
    _first_mask(engine, image, cache, point)  # warm-up (allocations, lazy init); fills the cache
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    puts: list[float] = []
    for _ in range(repeats):
        cache.clear()
        engine.reset_image()
        times, put_ms, hit = _first_mask(engine, image, cache, point)
        results[hit].append(times)
        puts.append(put_ms)
        engine.reset_image()
        times, _, hit = _first_mask(engine, image, cache, point)
        results[hit].append(times)
    if len(results[False]) != repeats or len(results[True]) != repeats:
        raise RuntimeError(
            f"{name}: expected {repeats} misses and {repeats} hits, got {len(results[False])} / "
            f"{len(results[True])}"
        )
    entry_mb = cache.stats().total_bytes / 2**20
    rows = []
    totals = {}
    for hit in (False, True):
        med = {p: statistics.median(t[p] for t in results[hit]) for p in PHASES}
        totals[hit] = statistics.median(sum(t.values()) for t in results[hit])
        label = "cached" if hit else "cold"
        cells = " | ".join(f"{med[p]:8.1f}" for p in PHASES)
        rows.append(f"| {name:<6} | {label:<6} | {cells} | {totals[hit]:9.1f} |")
    rows.append(
        f"| {name:<6} | speed-up {totals[False] / totals[True]:.1f}x; entry {entry_mb:.1f} MiB on disk; "
        f"put after a cold encode {statistics.median(puts):.1f} ms |"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="tiny,vit_b", help="comma-separated: tiny, vit_b")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    args = parser.parse_args(argv)
    import torch

    rgb = load_image(args.image).rgb
    print(
        f"image: {args.image.name} {rgb.shape[1]}x{rgb.shape[0]}; device {args.device}; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats}"
    )
    header = " | ".join(f"{p:>8}" for p in PHASES)
    print(f"| model  | path   | {header} | total ms  |")
    print("|" + "---|" * (len(PHASES) + 3))
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        for name in args.models.split(","):
            engine = MODELS[name](args.device)
            for row in bench(name, engine, args.image, args.repeats, Path(tmp)):
                print(row, flush=True)
    print(
        "phases: decode = load_image; key = image_key (pixel hash); lookup = cache.get; model = set_image "
        "(cold) or set_embedding (cached); predict = one click, multimask."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
