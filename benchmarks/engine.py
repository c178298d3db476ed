"""Engine benchmark: ViT-B image encoding (float32, bfloat16), peak memory, and one click's latency on CPU.

Run: ``.venv/bin/python -m benchmarks.engine [--quick]``. The ViT-B model has seeded random
weights (speed does not depend on the values). The bf16-vs-float32 agreement is measured on the reference tiny
model with its weights (``../shared/reference/sam``), since masks from random ViT-B weights mean nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sam_model.sam.build import apply_bfloat16_encoder, build_sam
from sam_model.sam.config import SamConfig
from sam_model.sam.predictor import SamPredictor

REPO = Path(__file__).resolve().parents[1]
DATE = "2026-11-21"
UPSTREAM = {"encode_f32_s": 12.8, "encode_bf16_s": 6.2, "click_ms": 56.0}
"""Upstream segment-anything (dca509f) on this 2-core CPU, measured by the lead (bf16: torch.autocast)."""


def shared_dir() -> Path:
    return Path(os.environ.get("SAM_SHARED_DIR", REPO.parent / "shared")).resolve()


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def load_image() -> np.ndarray:
    """The 371 x 513 llama image (RGB uint8) from the reference arrays."""
    arrays = np.load(shared_dir() / "reference" / "sam" / "sam_tiny_a.npz")
    return arrays["image"]


def measure_speed(quick: bool) -> dict[str, float]:
    image = load_image()
    torch.manual_seed(0)
    model = build_sam("vit_b")
    predictor = SamPredictor(model, model_id="vit_b-random")
    repeats = 1 if quick else 3
    enc32 = timed(lambda: predictor.set_image(image), repeats)
    rss32 = peak_rss_mib()

    rng = np.random.default_rng(0)
    h, w = image.shape[:2]
    clicks = rng.uniform([0, 0], [w, h], size=(20 if quick else 50, 2))
    label = np.array([1])
    it = iter(np.concatenate([clicks[:3], clicks]))
    click_times = timed(
        lambda: predictor.predict(point_coords=next(it)[None], point_labels=label), len(clicks), 3
    )

    model16 = copy.deepcopy(model)
    apply_bfloat16_encoder(model16)
    predictor16 = SamPredictor(model16, model_id="vit_b-random-bf16", decoder_dtype=torch.bfloat16)
    enc16 = timed(lambda: predictor16.set_image(image), repeats)
    rss16 = peak_rss_mib()
    it16 = iter(np.concatenate([clicks[:3], clicks]))
    click16 = timed(
        lambda: predictor16.predict(point_coords=next(it16)[None], point_labels=label), len(clicks), 3
    )
    return {
        "encode_f32_s": statistics.median(enc32),
        "encode_f32_min_s": min(enc32),
        "encode_bf16_s": statistics.median(enc16),
        "encode_bf16_min_s": min(enc16),
        "click_ms": 1000 * statistics.median(click_times),
        "click_min_ms": 1000 * min(click_times),
        "click_p90_ms": 1000 * float(np.percentile(click_times, 90)),
        "click_bf16_ms": 1000 * statistics.median(click16),
        "click_bf16_p90_ms": 1000 * float(np.percentile(click16, 90)),
        "peak_rss_f32_mib": rss32,
        "peak_rss_after_bf16_mib": rss16,
    }


def measure_bf16_agreement() -> dict[str, float]:
    """Masks IoU and low-res logit deviation, bf16 mode (encoder in bf16, decoder under bf16 autocast) vs
    float32, over the reference prompt cases."""
    ref = shared_dir() / "reference" / "sam"
    spec = json.loads((ref / "sam_tiny_a.json").read_text())
    arrays = np.load(ref / "sam_tiny_a.npz")
    cfg = SamConfig.from_dict(spec["config"], name="tiny")
    preds = {}
    for dtype in ("float32", "bfloat16"):
        preds[dtype] = SamPredictor(
            build_sam(cfg, checkpoint=ref / "sam_tiny_a.pth", dtype=dtype),
            model_id="t",
            decoder_dtype=torch.bfloat16 if dtype == "bfloat16" else torch.float32,
        )
        preds[dtype].set_image(arrays["image"])
    ious, dev = [], 0.0
    for name, case in spec["cases"].items():
        kwargs: dict[str, object] = {"multimask_output": case["multimask_output"]}
        if "point_coords" in case:
            kwargs["point_coords"] = np.array(case["point_coords"])
            kwargs["point_labels"] = np.array(case["point_labels"])
        if "box" in case:
            kwargs["box"] = np.array(case["box"])
        if "mask_input" in case:
            kwargs["mask_input"] = arrays[f"{name}/mask_input"]
        m32, _, l32 = preds["float32"].predict(**kwargs)
        m16, _, l16 = preds["bfloat16"].predict(**kwargs)
        dev = max(dev, float(np.abs(l32 - l16).max()))
        for a, b in zip(m32, m16, strict=True):
            ious.append(float((a & b).sum() / max((a | b).sum(), 1)))
    feat_dev = float((preds["float32"].features - preds["bfloat16"].features).abs().max())
    return {"bf16_min_mask_iou": min(ious), "bf16_max_logit_dev": dev, "bf16_max_feature_dev": feat_dev}


def machine() -> str:
    return (
        f"{platform.machine()} CPU, nproc={os.cpu_count()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )


def other_load() -> str:
    load1, load5, _ = os.getloadavg()
    return f"load average {load1:.1f} (1 min) / {load5:.1f} (5 min) on {os.cpu_count()} cores"


def render(results: dict[str, float], command: str) -> str:
    r = results
    up = UPSTREAM
    rows = [
        (
            "ViT-B encode, float32 (s, median)",
            f"{r['encode_f32_s']:.2f}",
            f"{up['encode_f32_s']:.1f}",
            "<= 7",
        ),
        ("ViT-B encode, float32 (s, best run)", f"{r['encode_f32_min_s']:.2f}", "", ""),
        (
            "ViT-B encode, bfloat16 (s, median)",
            f"{r['encode_bf16_s']:.2f}",
            f"{up['encode_bf16_s']:.1f}",
            "<= 3.5",
        ),
        ("ViT-B encode, bfloat16 (s, best run)", f"{r['encode_bf16_min_s']:.2f}", "", ""),
        ("one click, 513x371 (ms, median)", f"{r['click_ms']:.1f}", f"{up['click_ms']:.0f}", "<= 15"),
        ("one click (ms, best / p90)", f"{r['click_min_ms']:.1f} / {r['click_p90_ms']:.1f}", "", ""),
        (
            "one click, bfloat16 mode (ms, median / p90)",
            f"{r['click_bf16_ms']:.1f} / {r['click_bf16_p90_ms']:.1f}",
            "",
            "<= 15",
        ),
        ("peak RSS after float32 encode (MiB)", f"{r['peak_rss_f32_mib']:.0f}", "", ""),
        ("peak RSS after bf16 encode (MiB, cumulative)", f"{r['peak_rss_after_bf16_mib']:.0f}", "", ""),
        ("bf16 mode vs float32: min mask IoU (reference cases)", f"{r['bf16_min_mask_iou']:.4f}", "", ""),
        ("bf16 mode vs float32: max low-res logit deviation", f"{r['bf16_max_logit_dev']:.3f}", "", ""),
    ]
    table = ["| measure | ours | upstream | target |", "| --- | ---: | ---: | ---: |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(
        [
            "## Engine",
            "",
            f"Command: `{command}` ({DATE}). Machine: {machine()}.",
            f"Conditions: {other_load()} at the end of the run (above 1 on 2 cores means other work shared "
            "the CPU and the timings are pessimistic).",
            "",
            *table,
            "",
            "ViT-B with seeded random weights; one click = prompt encoding + mask decoding + upscaling the "
            "low-res logits to the image + thresholding + NumPy conversion, single positive point, multimask "
            "output. bf16 mode runs the image encoder in bfloat16 and the decoder under bf16 autocast; its agreement is "
            "measured on the reference tiny model (`sam_tiny_a`) over the five prompt cases, end to end from "
            "the image. Peak RSS is the process high-water mark (`ru_maxrss`), so the bf16 row includes the "
            "float32 model.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (1 encode, 20 clicks)")
    args = parser.parse_args(argv)
    results = measure_speed(args.quick) | measure_bf16_agreement()
    command = "python -m benchmarks.engine" + (" --quick" if args.quick else "")
    section = render(results, command)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
