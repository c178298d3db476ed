"""Automatic mask generation benchmark: ``python -m benchmarks.automatic [--points-per-side N] [--upstream]``.

Tiny reference SAM (``shared/reference/sam/sam_tiny_a``) on a GrabCut image resized and cropped to 640 x 427,
1 prompt grid, no crops. Prints a table: time of ``generate`` excluding the image encoding, masks kept, peak
RSS.
``--upstream`` also runs upstream's order of work (every candidate upscaled to full size through
``predict_torch``
before any filter, as ``SamAutomaticMaskGenerator._process_batch``) and reports whether both keep the same
masks.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sam_model.automatic.amg import batched_mask_to_box, calculate_stability_score, mask_to_rle_pytorch
from sam_model.automatic.generator import AutomaticMaskGenerator
from sam_model.automatic.nms import batched_nms

SHARED = Path(__file__).resolve().parents[2] / "shared"


def load_image(path: Path, size: tuple[int, int] = (640, 427)) -> np.ndarray:
    """RGB ``size[1] x size[0]`` uint8: resized to cover ``size`` keeping the aspect, then centre-cropped."""
    image = Image.open(path).convert("RGB")
    w, h = size
    scale = max(w / image.width, h / image.height)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - w) // 2, (image.height - h) // 2
    return np.asarray(image.crop((left, top, left + w, top + h)))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def upstream_order(predictor, image: np.ndarray, points_per_side: int, batch: int) -> list[dict]:
    """Upstream's per-batch order (full-size logits for every candidate), same thresholds as the defaults."""
    from sam_model.automatic.amg import build_point_grid

    h, w = image.shape[:2]
    pts = build_point_grid(points_per_side) * np.array([[w, h]])
    rles, boxes, ious = [], [], []
    for start in range(0, len(pts), batch):
        p = pts[start : start + batch]
        t = torch.as_tensor(predictor.transform.apply_coords(p, (h, w)), dtype=torch.float32)[:, None]
        masks, iou, _ = predictor.predict_torch(
            t, torch.ones(len(p), 1, dtype=torch.int64), return_logits=True
        )
        masks, iou = masks.flatten(0, 1), iou.flatten(0, 1)
        keep = iou > 0.88
        masks, iou = masks[keep], iou[keep]
        stab = calculate_stability_score(masks, 0.0, 1.0)
        masks, iou = masks[stab >= 0.95] > 0.0, iou[stab >= 0.95]
        b = batched_mask_to_box(masks)
        rles += mask_to_rle_pytorch(masks)
        boxes.append(b)
        ious.append(iou)
    if not rles:
        return []
    keep = batched_nms(torch.cat(boxes).float(), torch.cat(ious), None, 0.7)
    return [rles[i] for i in keep.tolist()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--points-per-batch", type=int, default=64)
    parser.add_argument(
        "--image", type=Path, default=SHARED / "datasets" / "grabcut" / "images" / "21077.jpg"
    )
    parser.add_argument("--upstream", action="store_true", help="also time upstream's order of work")
    parser.add_argument(
        "--pred-iou-thresh", type=float, default=0.88, help="0 keeps every candidate (the worst case)"
    )
    parser.add_argument("--stability-score-thresh", type=float, default=0.95)
    args = parser.parse_args()
    from sam_model.sam.build import build_sam
    from sam_model.sam.config import SamConfig
    from sam_model.sam.predictor import SamPredictor

    ref = SHARED / "reference" / "sam"
    cfg = SamConfig(**json.loads((ref / "sam_tiny_a.json").read_text())["config"])
    predictor = SamPredictor(build_sam(cfg, checkpoint=ref / "sam_tiny_a.pth", device="cpu"), model_id="tiny")
    image = load_image(args.image)
    gen = AutomaticMaskGenerator(
        predictor,
        points_per_side=args.points_per_side,
        points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh,
        stability_score_thresh=args.stability_score_thresh,
        output_mode="uncompressed_rle",
    )
    rss0 = peak_rss_mib()
    t0 = time.perf_counter()
    records = gen.generate(image)
    total = time.perf_counter() - t0
    rows = [("ours", total - gen.timings["encode"], gen.timings["decode"], len(records), peak_rss_mib())]
    agree = ""
    if args.upstream:
        predictor.set_image(image)
        t0 = time.perf_counter()
        theirs = upstream_order(predictor, image, args.points_per_side, args.points_per_batch)
        rows.append(("upstream order", time.perf_counter() - t0, float("nan"), len(theirs), peak_rss_mib()))
        same = sorted(json.dumps(r["segmentation"]) for r in records) == sorted(json.dumps(r) for r in theirs)
        agree = f"same masks as upstream order: {same}"
    print(
        f"image {args.image.name} 640x427, {args.points_per_side**2} prompts,"
        f" torch threads {torch.get_num_threads()}"
    )
    print(f"encode (excluded): {gen.timings['encode']:.2f} s; peak RSS before generate {rss0:.0f} MiB")
    print(f"{'method':<16}{'time s':>10}{'decode s':>10}{'masks':>7}{'peak RSS MiB':>14}")
    for name, seconds, decode, n, rss in rows:
        print(f"{name:<16}{seconds:>10.2f}{decode:>10.2f}{n:>7}{rss:>14.0f}")
    if agree:
        print(agree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
