"""Boxes to masks (issue 14, item 3): batched box decoding gives the masks of one box prompt at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam_model.box_prompts import BoxMask, check_boxes, decode_boxes, iter_box_masks, masks_for_boxes
from sam_model.build import load_predictor
from sam_model.classic.segmenter import ClassicSegmenter
from sam_model.errors import NoImageError, PromptError

BOXES = np.array(
    [[10, 12, 90, 70], [40, 5, 150, 110], [0, 0, 160, 120], [100, 60, 140, 100], [-20, 30, 60, 200]],
    dtype=np.float64,
)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    rgb[20:70, 20:80] = (220, 40, 40)
    rgb[70:100, 105:135] = (30, 200, 60)
    return rgb


def _one_by_one(segmenter, boxes: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """One ``predict(box=...)`` per box on the segmenter's current image."""
    out = []
    for box in boxes:
        masks, scores, _ = segmenter.predict(box=box, multimask_output=False)
        out.append((masks[0], float(scores[0])))
    return out


def _assert_same(batched: list[BoxMask], single: list[tuple[np.ndarray, float]], boxes: np.ndarray) -> None:
    assert [m.index for m in batched] == list(range(len(boxes)))
    for result, (mask, score), box in zip(batched, single, boxes, strict=True):
        assert result.box == tuple(float(v) for v in box)
        assert result.mask.dtype == np.bool_ and result.mask.shape == mask.shape
        # the batched matrix products round differently: at most a few pixels on the threshold may flip
        assert np.count_nonzero(result.mask != mask) <= max(2, mask.size // 10000)
        assert result.score == pytest.approx(score, abs=1e-4)


@pytest.mark.parametrize(
    ("family", "name"), [("sam", "sam_tiny_a.pth"), ("sam2", "sam2_tiny_a.pth")], ids=["sam", "sam2"]
)
def test_batched_boxes_equal_one_box_prompt_at_a_time(
    shared: Path, family: str, name: str, image: np.ndarray
) -> None:
    path = shared / "reference" / family / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    predictor = load_predictor(path, device="cpu")
    batched = masks_for_boxes(predictor, image, BOXES, batch_size=2)  # three batches: 2 + 2 + 1
    single = _one_by_one(predictor, BOXES)  # on the image masks_for_boxes set
    _assert_same(batched, single, BOXES)
    assert any(m.mask.any() for m in batched)
    # the same again in one batch, batch by batch
    parts = list(iter_box_masks(predictor, BOXES, batch_size=5))
    assert [len(p) for p in parts] == [5]
    _assert_same(parts[0], single, BOXES)
    # multimask: the best scored of the three candidates
    masks, scores, _ = predictor.predict(box=BOXES[1], multimask_output=True)
    (result,) = decode_boxes(predictor, BOXES[1:2], multimask=True)
    best = int(np.argmax(scores))
    assert result.score == pytest.approx(float(scores[best]), abs=1e-4)
    assert np.count_nonzero(result.mask != masks[best]) <= 2


def test_the_classical_engine_answers_one_box_at_a_time(image: np.ndarray) -> None:
    engine = ClassicSegmenter()
    results = masks_for_boxes(engine, image, BOXES[:2])
    single = _one_by_one(engine, BOXES[:2])
    for result, (mask, score) in zip(results, single, strict=True):
        assert np.array_equal(result.mask, mask) and result.score == pytest.approx(score)
    red = results[0].mask
    assert red[40, 50] and not red[5, 5]  # the red block inside the first box


def test_bad_boxes_are_named_before_anything_is_encoded(image: np.ndarray) -> None:
    engine = ClassicSegmenter()
    with pytest.raises(PromptError, match=r"box 1 .* is empty"):
        masks_for_boxes(engine, image, [[0, 0, 10, 10], [5, 5, 5, 20]])
    with pytest.raises(PromptError, match="outside the 160x120 image"):
        masks_for_boxes(engine, image, [[200, 0, 210, 10]])
    with pytest.raises(PromptError, match="not four finite"):
        masks_for_boxes(engine, image, [[0, 0, np.nan, 10]])
    with pytest.raises(PromptError, match="N x 4"):
        check_boxes([1, 2, 3], (10, 10))
    assert not engine.is_image_set
    assert masks_for_boxes(engine, image, np.zeros((0, 4))) == []
    with pytest.raises(NoImageError):
        decode_boxes(engine, BOXES[:1])
