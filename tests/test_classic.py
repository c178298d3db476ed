"""The classical engine (sam_model.classic.segmenter): protocol conformance, synthetic objects, GrabCut images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam_model.classic.segmenter import ClassicSegmenter
from sam_model.errors import EmbeddingError, ImageError, NoImageError, PromptError
from sam_model.noc import iou, load_ground_truth, load_image, run_image
from sam_model.protocol import ImageEmbedding, Segmenter


def _scene(h: int = 120, w: int = 160, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy green-grey background, a red disc (the object) and an attached red bar: ``(img, disc, bar)``."""
    rng = np.random.default_rng(seed)
    img = rng.normal((90, 110, 90), 12, (h, w, 3)).clip(0, 255)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = np.hypot(yy - h / 2, xx - w * 0.35) <= h * 0.25
    bar = (np.abs(yy - h / 2) <= h * 0.06) & (xx > w * 0.35 + h * 0.22) & (xx < w * 0.9)
    img[disc | bar] = rng.normal((200, 50, 40), 10, (int((disc | bar).sum()), 3)).clip(0, 255)
    return img.astype(np.uint8), disc, bar


@pytest.fixture(scope="module")
def engine() -> ClassicSegmenter:
    seg = ClassicSegmenter()
    seg.set_image(_scene()[0])
    return seg


def test_protocol_shapes_and_types(engine: ClassicSegmenter) -> None:
    assert isinstance(engine, Segmenter) and engine.is_image_set and engine.model_id.startswith("classic-")
    pts, lab = np.array([[56.0, 60.0]]), np.array([1])
    masks, scores, low = engine.predict(pts, lab)
    assert masks.shape == (3, 120, 160) and masks.dtype == bool
    assert scores.shape == (3,) and scores.dtype == np.float32 and int(np.argmax(scores)) == 0
    assert low.shape == (3, 256, 256) and low.dtype == np.float32
    masks1, scores1, low1 = engine.predict(pts, lab, multimask_output=False)
    assert masks1.shape == (1, 120, 160) and scores1.shape == (1,) and low1.shape == (1, 256, 256)
    logits, _, _ = engine.predict(pts, lab, multimask_output=False, return_logits=True)
    assert logits.dtype == np.float32 and np.array_equal(logits[0] > 0, masks1[0])
    # Low-res logits cover the image like SAM's: 160 wide -> 256, 120 high -> 192, padding below is negative.
    assert np.all(low1[0, 192:] < 0) and np.any(low1[0, :192] > 0)


def test_logits_feed_back(engine: ClassicSegmenter) -> None:
    masks, _, low = engine.predict(np.array([[56.0, 60.0]]), np.array([1]), multimask_output=False)
    decoded, _, _ = engine.predict(mask_input=low[:1], multimask_output=False)
    assert iou(decoded[0], masks[0], np.ones_like(masks[0])) > 0.97
    # Feeding back the previous logits with the same click keeps the mask.
    again, _, _ = engine.predict(
        np.array([[56.0, 60.0]]), np.array([1]), mask_input=low, multimask_output=False
    )
    assert iou(again[0], masks[0], np.ones_like(masks[0])) > 0.95


def test_one_click_segments_object() -> None:
    img, disc, bar = _scene()
    img[bar] = (90, 110, 90)  # no distractor
    seg = ClassicSegmenter()
    seg.set_image(img)
    masks, scores, _ = seg.predict(np.array([[56.0, 60.0]]), np.array([1]))
    assert iou(masks[int(np.argmax(scores))], disc, np.ones_like(disc)) > 0.9


def test_negative_click_removes_region(engine: ClassicSegmenter) -> None:
    _, disc, bar = _scene()
    pts, lab = np.array([[56.0, 60.0]]), np.array([1])
    masks, _, low = engine.predict(pts, lab, multimask_output=False)
    before = masks[0]
    assert before[bar].mean() > 0.5  # the same-coloured bar is taken with the disc
    masks, _, _ = engine.predict(
        np.array([[56.0, 60.0], [130.0, 60.0]]), np.array([1, 0]), mask_input=low, multimask_output=False
    )
    after = masks[0]
    # Same colour as the object: the part of the bar from 15 px before the click on is removed (measured:
    # 11 % left), the disc is kept whole, and the mask gets better.
    xx = np.mgrid[0:120, 0:160][1]
    assert after[bar & (xx >= 115)].mean() < 0.2 and after[disc].mean() > 0.95
    assert iou(after, disc, np.ones_like(disc)) > iou(before, disc, np.ones_like(disc)) + 0.05


def test_box_prompt() -> None:
    img, disc, bar = _scene()
    img[bar] = (90, 110, 90)
    seg = ClassicSegmenter()
    seg.set_image(img)
    ys, xs = np.nonzero(disc)
    box = np.array([xs.min() - 4, ys.min() - 4, xs.max() + 5, ys.max() + 5], float)
    masks, scores, _ = seg.predict(box=box)
    assert iou(masks[int(np.argmax(scores))], disc, np.ones_like(disc)) > 0.9
    both, _, _ = seg.predict(np.array([[56.0, 60.0]]), np.array([1]), box=box, multimask_output=False)
    assert iou(both[0], disc, np.ones_like(disc)) > 0.9


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (1500, 4000)])
def test_any_image_size(shape: tuple[int, int]) -> None:
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    img[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 4 : max(w // 4 + 1, 3 * w // 4)] = (250, 250, 250)
    seg = ClassicSegmenter()
    seg.set_image(img)
    masks, _, low = seg.predict(np.array([[w / 2, h / 2]]), np.array([1]))
    assert masks.shape == (3, h, w) and low.shape == (3, 256, 256)
    assert masks[0][h // 2, w // 2]
    if h > 100:
        assert iou(masks[0], img[..., 0] > 0, np.ones((h, w), bool)) > 0.95


def test_input_errors() -> None:
    seg = ClassicSegmenter()
    with pytest.raises(NoImageError):
        seg.predict(np.array([[1.0, 1.0]]), np.array([1]))
    with pytest.raises(NoImageError):
        seg.get_embedding()
    bads = (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8), "x")
    for bad in bads:
        with pytest.raises(ImageError):
            seg.set_image(bad)  # type: ignore[arg-type]
    seg.set_image(np.zeros((10, 12, 3), np.uint8))
    bad_prompts = [
        {},
        {"point_coords": np.array([[1.0, 1.0]])},
        {"point_coords": np.array([1.0, 1.0]), "point_labels": np.array([1])},
        {"point_coords": np.array([[1.0, 1.0]]), "point_labels": np.array([2])},
        {"point_coords": np.array([[np.nan, 1.0]]), "point_labels": np.array([1])},
        {"point_coords": np.array([[50.0, 1.0]]), "point_labels": np.array([1])},
        {"box": np.array([5.0, 5.0, 2.0, 8.0])},
        {"box": np.array([1.0, 2.0, 3.0])},
        {"box": np.array([20.0, 20.0, 30.0, 30.0])},
        {"mask_input": np.zeros((1, 64, 64), np.float32)},
    ]
    for kwargs in bad_prompts:
        with pytest.raises(PromptError):
            seg.predict(**kwargs)


def test_embedding_round_trip() -> None:
    img = _scene()[0]
    first = ClassicSegmenter()
    first.set_image(img)
    emb = first.get_embedding()
    assert emb.original_size == (120, 160) and emb.nbytes() > 0
    second = ClassicSegmenter()
    second.set_embedding(emb)
    pts, lab = np.array([[56.0, 60.0]]), np.array([1])
    assert np.array_equal(first.predict(pts, lab)[0], second.predict(pts, lab)[0])
    with pytest.raises(EmbeddingError):
        second.set_embedding(ImageEmbedding("sam-vit_b-1234", (120, 160), (120, 160), {}))
    with pytest.raises(EmbeddingError):
        second.set_embedding(
            ImageEmbedding(emb.model_id, (120, 160), (120, 160), {"image": emb.arrays["image"]})
        )
    second.reset_image()
    assert not second.is_image_set


# Measured with the defaults (classic-2-w320, coarse-to-fine cuts): IoU after 5 clicks banana1 0.97, person7 0.99,
# teddy 0.97 (classic-1: 0.98, 0.94, 0.97); the thresholds keep a margin. No click lowered the IoU by more than
# 0.002 on these three.
GRABCUT_CASES = {"banana1": 0.93, "person7": 0.88, "teddy": 0.92}


@pytest.mark.parametrize("name", sorted(GRABCUT_CASES))
def test_grabcut_few_clicks(grabcut_dir: Path, name: str) -> None:
    image_path = next(p for p in (grabcut_dir / "images").iterdir() if p.stem == name)
    gt, valid = load_ground_truth(grabcut_dir / "masks" / f"{name}.bmp")
    result = run_image(ClassicSegmenter(), load_image(image_path), gt, valid, max_clicks=8)
    assert result.ious[4] >= GRABCUT_CASES[name], result.ious
    drops = [a - b for a, b in zip(result.ious, result.ious[1:], strict=False)]
    assert max(drops) < 0.03, result.ious
    assert max(result.seconds) < 2.0
