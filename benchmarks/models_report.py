"""The markdown table of ``benchmarks.models`` and the ours-vs-upstream agreement check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ENCODE_TARGETS = {"vit_t": 0.5, "sam2.1_hiera_tiny": 0.6, "sam2.1_hiera_small": 0.6}
"""Issue 10: our encode time / upstream's, at most."""
CLICK_TARGET = 0.5
"""Issue 10: our click latency / upstream's, at most, for every family."""


def agreement(ours: Path, upstream: Path) -> dict[str, float]:
    """How far upstream's first click is from ours (same weights, image and point): low-res logits, scores, masks.

    Large values mean the two sides do not compute the same model, and the timings do not compare like with like.
    """
    a, b = np.load(ours), np.load(upstream)
    masks_a, masks_b = a["masks"].astype(bool), b["masks"].astype(bool)
    if masks_a.shape != masks_b.shape:
        return {"shape_mismatch": 1.0}
    inter = (masks_a & masks_b).reshape(len(masks_a), -1).sum(1)
    union = (masks_a | masks_b).reshape(len(masks_a), -1).sum(1)
    ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return {
        "max_low_res_logit_diff": float(np.abs(a["low_res"] - b["low_res"]).max()),
        "max_score_diff": float(np.abs(a["scores"] - b["scores"]).max()),
        "min_mask_iou": float(ious.min()),
    }


def _num(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _ratio(ours: float | None, upstream: float | None, target: float | None) -> str:
    if ours is None or upstream is None or upstream <= 0:
        return "n/a" if target is None else f"n/a (<= {target})"
    ratio = ours / upstream
    if target is None:
        return f"{ratio:.2f}x"
    return f"{ratio:.2f}x (<= {target}: {'met' if ratio <= target else 'NOT met'})"


def _get(side: dict[str, Any] | None, key: str) -> float | None:
    if not side or "error" in side:
        return None
    value = side.get(key)
    return None if value is None else float(value)


def family_row(family: str, entry: dict[str, Any], peak: float) -> list[str]:
    """One table row: encode, GFLOP, GFLOP/s (share of the GEMM peak), click, RSS."""
    ours, up = entry["ours"], entry.get("upstream")
    gflops_ours = _get(ours, "gflops_achieved")
    share = "" if gflops_ours is None or peak <= 0 else f" ({100 * gflops_ours / peak:.0f} %)"
    gflop_up = _get(up, "encoder_gflop")
    return [
        family,
        _num(_get(ours, "encode_s"), ".2f"),
        _num(_get(up, "encode_s"), ".2f"),
        _ratio(_get(ours, "encode_s"), _get(up, "encode_s"), ENCODE_TARGETS.get(family)),
        _num(_get(ours, "encoder_gflop"), ".0f") + ("" if gflop_up is None else f" / {gflop_up:.0f}"),
        _num(gflops_ours, ".0f") + share,
        _num(_get(up, "gflops_achieved"), ".0f"),
        _num(_get(ours, "click_ms"), ".1f"),
        _num(_get(up, "click_ms"), ".1f"),
        _ratio(_get(ours, "click_ms"), _get(up, "click_ms"), CLICK_TARGET),
        _num(_get(ours, "peak_rss_mib"), ".0f") + " / " + _num(_get(up, "peak_rss_mib"), ".0f"),
    ]


def notes(results: dict[str, Any]) -> list[str]:
    """One line per family whose upstream column is missing or whose side failed, plus the agreement figures."""
    lines = []
    for family, entry in results["families"].items():
        for side in ("ours", "upstream"):
            value = entry.get(side)
            if value and "error" in value:
                lines.append(f"- {family}, {side}: FAILED: {value['error']}")
        if entry.get("upstream_note"):
            lines.append(f"- {family}: upstream column empty: {entry['upstream_note']}")
        if entry.get("agreement"):
            a = entry["agreement"]
            if "shape_mismatch" in a:
                lines.append(f"- {family}: ours and upstream return masks of different shapes")
            else:
                lines.append(
                    f"- {family}: ours vs upstream, first click: max low-res logit difference "
                    f"{a['max_low_res_logit_diff']:.2e}, max score difference {a['max_score_diff']:.2e}, "
                    f"min mask IoU {a['min_mask_iou']:.4f}"
                )
    return lines


def render(results: dict[str, Any]) -> str:
    """The markdown section: conditions, the table, what is timed, notes."""
    peak = max(results["gemm_peak_gflops_start"], results["gemm_peak_gflops_end"])
    header = [
        "family",
        "encode ours (s)",
        "encode upstream (s)",
        "encode ratio (target)",
        "encoder GFLOP ours / upstream",
        "GFLOP/s ours (% of peak)",
        "GFLOP/s upstream",
        "click ours (ms)",
        "click upstream (ms)",
        "click ratio (target)",
        "peak RSS ours / upstream (MiB)",
    ]
    table = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for family, entry in results["families"].items():
        table.append("| " + " | ".join(family_row(family, entry, peak)) + " |")
    cpu = results["cpu"]
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of those checked"
    load1, load5, _ = results["load_average_end"]
    return "\n".join(
        [
            "## Models: ours against upstream",
            "",
            f"Command: `{results['command']}` ({results['date_utc']} UTC).",
            f"CPU: {cpu['model']}, {cpu['logical_cpus']} logical CPUs, flags: {flags}. "
            f"torch {results['torch']}, {results['threads']} threads, float32.",
            f"float32 matrix-product peak (4096x1024 @ 1024x1024, best of the loop): "
            f"{results['gemm_peak_gflops_start']:.0f} GFLOP/s before the families, "
            f"{results['gemm_peak_gflops_end']:.0f} after. Load average at the end: {load1:.1f} (1 min) / "
            f"{load5:.1f} (5 min).",
            f"Image: `{Path(results['image']).name}`; same seeded random weights on both sides. Allocator: "
            "ours keeps freed memory for reuse (`sam_model.allocator`, as the app); upstream "
            + ("the same." if results.get("upstream_allocator") else "glibc's defaults."),
            "",
            *table,
            "",
            "Encode = `set_image` (resize, normalise, encoder; SAM 2 also its high-res projections), median of the "
            "timed runs after a FLOP-count run and a warm-up. Click = `predict` with one positive point, multimask "
            "output: prompt encoding, decoding, upscaling to the image, thresholding; median. GFLOP counted with "
            "`FlopCounterMode` (matrix products, convolutions, attention); GFLOP/s = GFLOP / median encode. Peak "
            "RSS: each side runs in its own process; the high-water mark while encoding and clicking (torch import and "
            "model included, the loading of the weights not).",
            "",
            *notes(results),
        ]
    )
