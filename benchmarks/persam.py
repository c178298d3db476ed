"""PerSAM propagation cost benchmark: ``python -m benchmarks.persam [--repeats N] [--checkpoint PATH]``.

What propagation costs per target image *beyond its encoding*, in decoder-pass equivalents: one plain decoder
pass is ``predictor.predict`` with one point and multimask output (prompt encoder, mask decoder, the three
masks upscaled to the image and thresholded), timed on the same image. Also the PerSAM-F weight fit on the
reference (1,000 steps). The mask decoder is the same for every SAM size (vit_b / l / h: 256 channels, 2
blocks), so the tiny reference checkpoint (``shared/reference/sam/sam_tiny_a.pth``, random weights) measures
the real cost; with no checkpoint the decoder has PyTorch's random initialisation. Image features are random:
encoding is not measured. Times are the best of ``--repeats`` interleaved runs (wall clock, this machine's
CPU threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sam_model.persam.multi import SearchOptions, find_instances
from sam_model.persam.persam import PersamReference, learn_reference, segment_target
from sam_model.persam.persam_f import learn_mask_weights, segment_target_f
from sam_model.protocol import ImageEmbedding
from sam_model.sam.build import build_sam
from sam_model.sam.config import SamConfig
from sam_model.sam.predictor import SamPredictor
from sam_model.transforms import get_preprocess_shape

SHARED = Path(__file__).resolve().parents[2] / "shared"
TINY = SHARED / "reference" / "sam"
SIZES = ((480, 640), (1080, 1920))
"""Target image sizes ``(H, W)``."""


def interleaved_min_seconds(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Best-of-``repeats`` wall time of each function, run in turn (a, b, c, a, b, c...) so that all of them
    see the same machine load; the minimum is the least disturbed by other processes."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def _predictor(checkpoint: Path | None) -> SamPredictor:
    if checkpoint is None and (TINY / "sam_tiny_a.pth").is_file():
        checkpoint = TINY / "sam_tiny_a.pth"
    spec = (
        json.loads((TINY / "sam_tiny_a.json").read_text()) if (TINY / "sam_tiny_a.json").is_file() else None
    )
    if spec is not None:
        config = SamConfig.from_dict(spec["config"], name="tiny")
    else:
        config = SamConfig(encoder_embed_dim=96, encoder_depth=2, encoder_num_heads=4, name="tiny")
    model = build_sam(config, checkpoint=checkpoint)
    return SamPredictor(model, model_id="bench")


def _set_features(predictor: SamPredictor, size: tuple[int, int], seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(1, 256, 64, 64, generator=gen).numpy()
    h, w = size
    predictor.set_embedding(
        ImageEmbedding("bench", (h, w), get_preprocess_shape(h, w, 1024), {"features": features})
    )


def _reference_mask(size: tuple[int, int]) -> np.ndarray:
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 5)) ** 2 <= 1.0


def _cases(
    predictor: SamPredictor, size: tuple[int, int], reference: PersamReference, fitted: PersamReference
) -> list[tuple[str, Callable[[], object]]]:
    h, w = size
    point, label = np.array([[w / 2, h / 2]]), np.array([1])
    one = SearchOptions(max_instances=1, min_similarity=-1.0)
    three = SearchOptions(max_instances=3, min_similarity=-1.0, max_overlap=1.0)
    return [
        (
            "plain decoder pass (predict, multimask)",
            lambda: predictor.predict(point, label, multimask_output=True),
        ),
        ("PerSAM, 1 object", lambda: segment_target(predictor, reference.embedding)),
        ("PerSAM-F, 1 object", lambda: segment_target_f(predictor, fitted)),
        ("PerSAM search, max 1 object", lambda: find_instances(predictor, reference, one)),
        ("PerSAM search, 3 objects", lambda: find_instances(predictor, reference, three)),
    ]


def run(repeats: int, checkpoint: Path | None) -> list[dict[str, object]]:
    predictor = _predictor(checkpoint)
    rows: list[dict[str, object]] = []
    ref_size = SIZES[0]
    _set_features(predictor, ref_size, seed=1)
    ref_mask = _reference_mask(ref_size)
    reference = learn_reference(predictor, ref_mask)
    fits = [learn_mask_weights(predictor, reference, ref_mask) for _ in range(max(3, repeats // 4))]
    fitted, report = fits[0]
    fit_loop = min(r.seconds for _, r in fits)
    (fit_total,) = interleaved_min_seconds([lambda: learn_mask_weights(predictor, reference, ref_mask)], 3)
    rows.append(
        {
            "what": "PerSAM-F fit (1,000 steps)",
            "size": f"{report.size[1]}x{report.size[0]} grid",
            "ms": 1000 * fit_loop,
            "x": None,
            "note": f"with the reference decoder pass and upscaling: {1000 * fit_total:.0f} ms",
        }
    )
    for size in SIZES:
        _set_features(predictor, size, seed=2)
        cases = _cases(predictor, size, reference, fitted)
        times = interleaved_min_seconds([fn for _, fn in cases], repeats)
        for (name, _), seconds in zip(cases, times, strict=True):
            rows.append(
                {
                    "what": name,
                    "size": f"{size[1]}x{size[0]}",
                    "ms": 1000 * seconds,
                    "x": seconds / times[0],
                    "note": "",
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per case (best of)")
    parser.add_argument("--checkpoint", type=Path, help="SAM checkpoint (default: the tiny reference one)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    rows = run(args.repeats, args.checkpoint)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; "
        f"best of {args.repeats} interleaved runs"
    )
    print(f"| {'case':<40} | {'image':<14} | {'ms':>8} | {'decoder passes':>14} | note")
    print(f"|{'-' * 42}|{'-' * 16}|{'-' * 10}|{'-' * 16}|------")
    for row in rows:
        x = "" if row["x"] is None else f"{row['x']:.2f}"
        print(f"| {row['what']:<40} | {row['size']:<14} | {row['ms']:8.1f} | {x:>14} | {row['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
