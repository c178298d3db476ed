"""One side of one family of ``benchmarks.models``, in its own process (so that peak RSS is this side's alone).

``python -m benchmarks.models_run SPEC.json`` reads a job (family, side, image, repeats, file paths), measures, and
writes the result JSON to the job's ``result`` path. Our side builds the model with seeded random weights and
saves its state dict to the job's ``weights`` path; the upstream side loads that file into upstream's model, so
both run the same weights on the same image.

What is timed (``time.perf_counter``, single image, float32, CPU, inference mode):
- encode: ``predictor.set_image(image)`` from the ``H x W x 3`` uint8 array: resize, normalise, image encoder,
  and for SAM 2 the decoder's high-res projections and ``no_mem_embed`` (both predictors do these in
  ``set_image``). One untimed call counts the FLOPs (``FlopCounterMode``, SDPA included), one more warms up
  (skipped with ``quick``), then ``repeats`` timed calls.
- click: ``predictor.predict(point_coords=[[x, y]], point_labels=[1], multimask_output=True)``: prompt
  encoding, mask decoding, upscaling the low-res logits to the original size, thresholding, NumPy output.
  Three untimed clicks, then ``clicks`` timed ones at seeded random positions (the same on both sides).
- allocator: our side keeps freed memory for reuse (:mod:`sam_model.allocator`, as ``load_predictor`` does for
  the app); upstream runs with glibc's defaults unless the job's ``upstream_allocator`` gives it the same setting.
- peak RSS: the high-water mark from the built model on (the kernel's mark is reset once the weights are in, so
  upstream's transient second copy while loading ours does not count), through the FLOP count, encodes and
  clicks; the torch import and the model are included. The mark up to the built model is kept too.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils import flop_counter


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5; ``ru_maxrss`` follows it), so that
    :func:`peak_rss_mib` covers only what follows; ``False`` where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _sdpa_flops(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _addmm_flops(bias: Any, mat1: Any, mat2: Any, *args: Any, **kwargs: Any) -> int:
    return flop_counter.mm_flop(mat1, mat2)


def _baddbmm_flops(bias: Any, batch1: Any, batch2: Any, *args: Any, **kwargs: Any) -> int:
    return flop_counter.bmm_flop(batch1, batch2)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (2 per multiply-add) of matrix products, convolutions and attention while ``fn`` runs.

    PyTorch's table lacks the CPU's fused attention kernel and the in-place ``addmm_`` / ``baddbmm_``; they are
    counted like their out-of-place versions.
    """
    aten = torch.ops.aten
    mapping = {
        aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops,
        aten.addmm_: _addmm_flops,
        aten.baddbmm_: _baddbmm_flops,
    }
    with flop_counter.FlopCounterMode(display=False, custom_mapping=mapping) as mode:
        fn()
    return int(mode.get_total_flops())


def timed(fn: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def load_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).copy()


def build_ours(family: str) -> tuple[nn.Module, Any]:
    """Our model of ``family`` with seeded random weights (PyTorch's init after ``manual_seed(0)``) and its
    predictor."""
    torch.manual_seed(0)
    if family.startswith("sam2"):
        from sam_model.sam2.build import build_sam2_model
        from sam_model.sam2.config import preset
        from sam_model.sam2.predictor import Sam2Predictor

        model = build_sam2_model(preset(family))
        model = model.float().eval()
        return model, Sam2Predictor(model, model_id=f"{family}-random")
    from sam_model.sam.build import build_sam
    from sam_model.sam.config import SamConfig
    from sam_model.sam.predictor import SamPredictor

    if family == "tiny":
        from benchmarks.models_upstream import TINY

        config: SamConfig | str = SamConfig(name="tiny", **TINY)
    else:
        config = family
    model = build_sam(config)
    return model, SamPredictor(model, model_id=f"{family}-random")


def build_upstream_side(
    job: dict[str, Any], state_dict: dict[str, torch.Tensor]
) -> tuple[nn.Module, Any, dict]:
    from benchmarks.models_upstream import build_upstream

    up = build_upstream(job["kind"], Path(job["checkout"]), job["family"], state_dict)
    return (
        up.model,
        up.predictor,
        {"loaded_keys": up.loaded_keys, "upstream_keys_left_at_init": up.left_at_init},
    )


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job: build, count, time; returns the result dict (see the module docstring)."""
    torch.set_num_threads(int(job["threads"]))
    if job["side"] == "ours" or job.get("upstream_allocator"):
        from sam_model.allocator import keep_freed_memory

        keep_freed_memory()  # what load_predictor does for the app
    rss_start = peak_rss_mib()
    image = load_image(Path(job["image"]))
    weights = Path(job["weights"])
    extra: dict[str, Any] = {}
    if job["side"] == "ours":
        model, predictor = build_ours(job["family"])
        torch.save(model.state_dict(), weights)
    else:
        state_dict = torch.load(weights, map_location="cpu", weights_only=True)
        model, predictor, extra = build_upstream_side(job, state_dict)
        del state_dict
    gc.collect()
    rss_built = peak_rss_mib()
    # Upstream briefly holds our weights beside its own while loading them: the running peak leaves that out.
    was_reset = reset_peak_rss()
    encode = lambda: predictor.set_image(image)  # noqa: E731
    with torch.inference_mode():
        flops = count_flops(encode)
        enc = timed(encode, int(job["repeats"]), 0 if job["quick"] else 1)
        h, w = image.shape[:2]
        rng = np.random.default_rng(0)
        points = rng.uniform([0, 0], [w, h], size=(int(job["clicks"]) + 3, 2)).astype(np.float32)
        it = iter(points)
        label = np.array([1])

        def click() -> tuple[np.ndarray, ...]:
            return predictor.predict(point_coords=next(it)[None], point_labels=label, multimask_output=True)

        clicks = timed(click, int(job["clicks"]), 3)
        masks, scores, low_res = predictor.predict(
            point_coords=points[:1], point_labels=label, multimask_output=True
        )
    np.savez(job["outputs"], masks=np.asarray(masks), scores=np.asarray(scores), low_res=np.asarray(low_res))
    result = {
        "family": job["family"],
        "side": job["side"],
        "image_hw": [int(h), int(w)],
        "encode_s": statistics.median(enc),
        "encode_min_s": min(enc),
        "encode_runs": len(enc),
        "encoder_gflop": flops / 1e9,
        "gflops_achieved": flops / 1e9 / statistics.median(enc),
        "click_ms": 1000 * statistics.median(clicks),
        "click_p90_ms": 1000 * float(np.percentile(clicks, 90)),
        "click_runs": len(clicks),
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_from_built_model": was_reset,
        "peak_rss_until_built_mib": rss_built,
        "rss_before_model_mib": rss_start,
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        **extra,
    }
    if job.get("profile"):
        result["profile"] = profile(predictor, image, points[0], label, Path(job["profile"]))
    return result


def profile(predictor: Any, image: np.ndarray, point: np.ndarray, label: np.ndarray, out: Path) -> str:
    """Profile one encode and ten clicks (``torch.profiler``, CPU); write the op tables to ``out``."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    tables = []
    with torch.inference_mode():
        for what, fn, n in (
            ("encode", lambda: predictor.set_image(image), 1),
            ("click", lambda: predictor.predict(point_coords=point[None], point_labels=label), 10),
        ):
            with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                for _ in range(n):
                    fn()
            averages = prof.key_averages(group_by_input_shape=True)
            tables.append(f"## {what} (x{n}), by self CPU time\n")
            tables.append(
                averages.table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=50)
            )
    out.write_text("\n".join(tables))
    return str(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text())
    result = measure(job)
    Path(job["result"]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
