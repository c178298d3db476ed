"""The low-res mask frame and the shared input checks (sam_model.low_res, sam_model.inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from sam_model.errors import ImageError, PromptError
from sam_model.inputs import check_image, check_mask_input
from sam_model.low_res import LOW_RES, SEED_LOGIT, LowResFrame


def test_longest_side_frame_covers_the_top_left_with_the_aspect_ratio() -> None:
    assert LowResFrame.LONGEST_SIDE.extent((300, 600)) == (128, 256)
    assert LowResFrame.LONGEST_SIDE.extent((600, 300)) == (256, 128)
    assert LowResFrame.LONGEST_SIDE.extent((1, 5000)) == (1, 256)


def test_square_frame_covers_the_whole_grid() -> None:
    assert LowResFrame.SQUARE.extent((300, 600)) == (LOW_RES, LOW_RES)


@pytest.mark.parametrize("frame", list(LowResFrame))
def test_mask_to_logits_places_the_mask_in_the_frame(frame: LowResFrame) -> None:
    mask = np.zeros((300, 600), bool)
    mask[:, 300:] = True  # right half of the image
    logits = frame.mask_to_logits(mask)
    assert logits.shape == (1, LOW_RES, LOW_RES) and logits.dtype == np.float32
    lh, lw = frame.extent(mask.shape)
    inside = logits[0, :lh, :lw] > 0
    assert inside[:, lw // 2 + 1 :].all() and not inside[:, : lw // 2 - 1].any()
    assert (logits[0, lh:, :] == -SEED_LOGIT).all() and (logits[0, :, lw:] == -SEED_LOGIT).all()


def test_check_image_names_the_problem() -> None:
    with pytest.raises(ImageError, match="uint8"):
        check_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageError, match="H x W x 3"):
        check_image(np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageError, match="empty"):
        check_image(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ImageError, match="NumPy"):
        check_image([[1, 2, 3]])
    image = np.zeros((4, 6, 3), np.uint8)[:, ::2]
    assert check_image(image).flags.c_contiguous


def test_check_mask_input_accepts_one_shape_and_rejects_bad_values() -> None:
    with pytest.raises(PromptError, match="1 x 256 x 256"):
        check_mask_input(np.zeros((LOW_RES, LOW_RES)))
    assert check_mask_input(np.zeros((1, LOW_RES, LOW_RES), np.float64)).dtype == np.float32
    with pytest.raises(PromptError, match="1 x 256 x 256"):
        check_mask_input(np.zeros((2, LOW_RES, LOW_RES)))
    bad = np.zeros((1, LOW_RES, LOW_RES), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(PromptError, match="finite"):
        check_mask_input(bad)
