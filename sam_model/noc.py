"""The number-of-clicks (NoC) protocol of interactive segmentation, for any :class:`Segmenter`.

A simulated user clicks at the point farthest from the boundary of the largest error region (a missed region:
positive click; a false region: negative click); the engine updates with all clicks so far and, like the app,
the previous best low-resolution logits as ``mask_input``; the best-scoring mask is kept and its IoU against
the ground truth measured. Ground-truth pixels with value 128 are ignored (neither object nor background).
NoC@t is the number of clicks needed to reach IoU ``t``, capped at ``max_clicks`` (an image that never reaches
it counts ``max_clicks``). The simulated user sees only the masks the engine returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sam_model.protocol import Segmenter

IGNORE_VALUE = 128
"""Ground-truth value of the unlabelled band along object borders."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Click:
    """One simulated click: ``(x, y)`` pixel coordinates and whether it is positive."""

    x: int
    y: int
    positive: bool


@dataclass(frozen=True)
class ImageResult:
    """Outcome of the protocol on one image.

    Attributes:
        name: image name (file stem).
        ious: IoU after each click, length ``max_clicks``.
        clicks: the clicks made, in order.
        seconds: time spent in ``predict`` per click, in seconds (length ``max_clicks``).
        set_image_seconds: time of ``set_image``, in seconds.
    """

    name: str
    ious: tuple[float, ...]
    clicks: tuple[Click, ...]
    seconds: tuple[float, ...]
    set_image_seconds: float

    def noc(self, threshold: float) -> int:
        """Clicks needed to reach ``threshold`` IoU; ``len(ious)`` (the cap) if never reached."""
        for i, iou in enumerate(self.ious):
            if iou >= threshold:
                return i + 1
        return len(self.ious)

    def reaches(self, threshold: float) -> bool:
        return any(iou >= threshold for iou in self.ious)


@dataclass(frozen=True)
class Summary:
    """Aggregates over images: ``noc85``, ``noc90`` (mean clicks), ``never90`` (images never reaching 0.90),
    ``miou`` (mean IoU after each click, length ``max_clicks``), ``seconds_per_click`` (``predict`` time)."""

    images: int
    noc85: float
    noc90: float
    never90: int
    miou: tuple[float, ...]
    seconds_per_click: float

    def miou_at(self, clicks: int) -> float:
        return self.miou[min(clicks, len(self.miou)) - 1]


def load_ground_truth(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a mask file: returns ``(object H x W bool, valid H x W bool)``; 128 ignored, > 128 object."""
    raw = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if raw is None:
        raise OSError(f"{path}: cannot read mask")
    return raw > IGNORE_VALUE, raw != IGNORE_VALUE


def load_image(path: Path) -> np.ndarray:
    """Read an image as ``H x W x 3`` uint8 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"{path}: cannot read image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def dataset_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """``(name, image path, mask path)`` for each ``images/NAME.*`` with a ``masks/NAME.*``, sorted."""
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise OSError(f"{root}: expected folders images/ and masks/")
    masks = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = [
        (p.stem, p, masks[p.stem])
        for p in images_dir.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in masks
    ]
    if not pairs:
        raise OSError(f"{root}: no image has a mask of the same name")
    return sorted(pairs)


def iou(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> float:
    """IoU of two ``H x W`` bool masks over the ``valid`` pixels (1.0 when both are empty there)."""
    union = np.count_nonzero((pred | gt) & valid)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & gt & valid)) / float(union)


def next_click(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> Click | None:
    """The simulated user's next click, or ``None`` when no valid pixel is wrong.

    The largest 8-connected error region (missed object or false object, valid pixels only) is taken; the
    click is its pixel farthest from the region's boundary (the image border counts as boundary), positive
    when the region is missed object.
    """
    best: tuple[int, np.ndarray, bool] | None = None
    for positive, error in ((True, gt & ~pred & valid), (False, ~gt & pred & valid)):
        if not error.any():
            continue
        _, comps, stats, _ = cv2.connectedComponentsWithStats(error.astype(np.uint8), connectivity=8)
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[largest, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, comps == largest, positive)
    if best is None:
        return None
    region = np.pad(best[1], 1).astype(np.uint8)
    dist = cv2.distanceTransform(region, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return Click(int(x), int(y), best[2])


def run_image(
    segmenter: Segmenter,
    image: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray,
    *,
    name: str = "",
    max_clicks: int = 20,
    multimask_output: bool = True,
) -> ImageResult:
    """Run the protocol on one image for ``max_clicks`` clicks.

    Args:
        segmenter: any engine; ``set_image`` is called here.
        image: ``H x W x 3`` uint8 RGB.
        gt: ``H x W`` bool object mask; ``valid``: ``H x W`` bool, False where ignored.
        max_clicks: number of clicks (the NoC cap).
        multimask_output: passed to ``predict``; the best-scoring mask is used either way.

    Once no valid pixel is wrong the remaining clicks keep the last IoU without calling the engine.
    """
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be at least 1, got {max_clicks}")
    start = time.perf_counter()
    segmenter.set_image(image)
    set_seconds = time.perf_counter() - start
    pred = np.zeros(gt.shape, bool)
    logits: np.ndarray | None = None
    coords: list[tuple[float, float]] = []
    labels: list[int] = []
    clicks: list[Click] = []
    ious: list[float] = []
    seconds: list[float] = []
    for _ in range(max_clicks):
        click = next_click(pred, gt, valid)
        if click is None:
            ious.append(ious[-1] if ious else iou(pred, gt, valid))
            continue
        clicks.append(click)
        coords.append((float(click.x), float(click.y)))
        labels.append(1 if click.positive else 0)
        start = time.perf_counter()
        masks, scores, low_res = segmenter.predict(
            point_coords=np.asarray(coords, np.float32),
            point_labels=np.asarray(labels, np.int64),
            mask_input=None if logits is None else logits[None],
            multimask_output=multimask_output,
        )
        seconds.append(time.perf_counter() - start)
        best = int(np.argmax(scores))
        pred = np.asarray(masks[best]) > 0
        logits = np.asarray(low_res[best], np.float32)
        ious.append(iou(pred, gt, valid))
    return ImageResult(name, tuple(ious), tuple(clicks), tuple(seconds), set_seconds)


def run_dataset(
    segmenter: Segmenter,
    root: Path,
    *,
    max_clicks: int = 20,
    limit: int | None = None,
    progress: Callable[[int, int, ImageResult], None] | None = None,
) -> list[ImageResult]:
    """Run :func:`run_image` on every image of a dataset in the ``images/`` + ``masks/`` layout."""
    pairs = dataset_pairs(root)
    if limit is not None:
        pairs = pairs[:limit]
    results: list[ImageResult] = []
    for i, (name, image_path, mask_path) in enumerate(pairs):
        image = load_image(image_path)
        gt, valid = load_ground_truth(mask_path)
        if gt.shape != image.shape[:2]:
            raise OSError(f"{mask_path}: mask is {gt.shape}, image is {image.shape[:2]}")
        result = run_image(segmenter, image, gt, valid, name=name, max_clicks=max_clicks)
        results.append(result)
        if progress is not None:
            progress(i + 1, len(pairs), result)
    return results


def summarize(results: Sequence[ImageResult]) -> Summary:
    """Aggregate per-image results (all run with the same ``max_clicks``)."""
    if not results:
        raise ValueError("no results to summarize")
    ious = np.array([r.ious for r in results], dtype=np.float64)
    times = [t for r in results for t in r.seconds]
    return Summary(
        images=len(results),
        noc85=float(np.mean([r.noc(0.85) for r in results])),
        noc90=float(np.mean([r.noc(0.90) for r in results])),
        never90=sum(not r.reaches(0.90) for r in results),
        miou=tuple(float(v) for v in ious.mean(axis=0)),
        seconds_per_click=float(np.mean(times)) if times else 0.0,
    )
