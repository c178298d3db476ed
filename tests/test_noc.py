"""The NoC protocol (sam_model.noc) on synthetic masks whose answers are known, and the ``bench noc`` CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam_model.low_res import LowResFrame
from sam_model.noc import ImageResult, iou, next_click, run_image, summarize
from sam_model.protocol import ImageEmbedding


class _OracleEngine:
    """Returns a fixed mask whatever the prompts (the ground truth: perfect; zeros: useless)."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._set = False

    @property
    def model_id(self) -> str:
        return "oracle"

    @property
    def low_res_frame(self) -> LowResFrame:
        return LowResFrame.LONGEST_SIDE

    @property
    def is_image_set(self) -> bool:
        return self._set

    def set_image(self, image: np.ndarray) -> None:
        self._set = True

    def reset_image(self) -> None:
        self._set = False

    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output=True,
        return_logits=False,
    ):
        self.calls.append((np.array(point_coords), np.array(point_labels), mask_input))
        low = np.full((1, 256, 256), 7.0 if self.mask.any() else -7.0, np.float32)
        return self.mask[None].copy(), np.ones(1, np.float32), low

    def get_embedding(self) -> ImageEmbedding:
        return ImageEmbedding("oracle", self.mask.shape, self.mask.shape)

    def set_embedding(self, embedding: ImageEmbedding) -> None:
        self._set = True


def _disc_gt(size: int = 64, radius: int = 20, band: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A centred disc with a 128 band of width ``band`` on its border: ``(raw, gt, valid)``."""
    yy, xx = np.mgrid[0:size, 0:size]
    d = np.hypot(yy - size // 2, xx - size // 2)
    raw = np.where(d <= radius - band, 255, np.where(d <= radius + band, 128, 0)).astype(np.uint8)
    return raw, raw > 128, raw != 128


def test_perfect_engine_needs_one_click() -> None:
    _, gt, valid = _disc_gt()
    engine = _OracleEngine(gt)
    result = run_image(engine, np.zeros((64, 64, 3), np.uint8), gt, valid, max_clicks=20)
    assert result.noc(0.90) == 1 and result.noc(0.85) == 1
    assert result.ious == (1.0,) * 20
    assert len(engine.calls) == 1  # no error left: the user stops clicking
    assert result.clicks[0].positive


def test_empty_engine_never_reaches() -> None:
    _, gt, valid = _disc_gt()
    engine = _OracleEngine(np.zeros_like(gt))
    result = run_image(engine, np.zeros((64, 64, 3), np.uint8), gt, valid, max_clicks=20)
    assert result.noc(0.90) == 20 and not result.reaches(0.90)
    assert result.ious == (0.0,) * 20
    assert len(engine.calls) == 20
    summary = summarize([result, result])
    assert summary.noc90 == 20 and summary.noc85 == 20 and summary.never90 == 2
    # The previous best low-res logits are fed back from the second click on.
    assert engine.calls[0][2] is None and engine.calls[1][2].shape == (1, 256, 256)
    assert len(engine.calls[-1][0]) == 20


def test_click_at_farthest_point_of_largest_error_region() -> None:
    gt = np.zeros((60, 80), bool)
    gt[10:30, 10:50] = True  # 20 x 40 object, fully missed
    gt[40:46, 60:66] = True  # small missed object
    pred = np.zeros_like(gt)
    pred[50:56, 5:11] = True  # small false positive
    valid = np.ones_like(gt)
    click = next_click(pred, gt, valid)
    assert click is not None and click.positive
    assert 19 <= click.y <= 20 and 19 <= click.x <= 40  # the centre line of the 20 x 40 rectangle

    # A large false positive wins over a small miss: a negative click at its centre.
    pred2 = gt.copy()
    pred2[:8, 60:80] = True  # 8 x 20 strip touching the image border: the border counts as boundary
    pred2[40:46, 60:66] = False
    click = next_click(pred2, gt, valid)
    assert click is not None and not click.positive
    assert 3 <= click.y <= 4 and 63 <= click.x <= 76


def test_no_click_when_correct_and_ignored_band() -> None:
    _, gt, valid = _disc_gt(band=3)
    assert next_click(gt, gt, valid) is None
    # A prediction wrong only inside the 128 band is perfect.
    yy, xx = np.mgrid[0:64, 0:64]
    pred = np.hypot(yy - 32, xx - 32) <= 22  # reaches into the band (20 +- 3)
    assert iou(pred, gt, valid) == 1.0
    assert next_click(pred, gt, valid) is None
    # Without the ignore mask the same prediction is wrong.
    assert iou(pred, gt, np.ones_like(valid)) < 1.0


def test_noc_counts_and_summary() -> None:
    r = ImageResult("a", (0.5, 0.86, 0.89, 0.91), (), (0.1, 0.3, 0.1, 0.1), 0.0)
    assert r.noc(0.85) == 2 and r.noc(0.90) == 4 and r.noc(0.95) == 4
    s = summarize([r, ImageResult("b", (0.95,) * 4, (), (0.1,) * 4, 0.0)])
    assert s.noc85 == 1.5 and s.noc90 == 2.5 and s.never90 == 0
    assert s.miou_at(1) == pytest.approx(0.725) and s.seconds_per_click == pytest.approx(
        0.1 * 7 / 8 + 0.3 / 8
    )


def _write_dataset(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        img = (rng.normal(60, 8, (90, 120, 3))).clip(0, 255).astype(np.uint8)
        raw = np.zeros((90, 120), np.uint8)
        cv2.circle(raw, (50 + 10 * i, 45), 22, 128, -1)
        cv2.circle(raw, (50 + 10 * i, 45), 20, 255, -1)
        img[raw > 0] = (200, 40 + 50 * i, 30)
        cv2.imwrite(str(root / "images" / f"im{i}.png"), img[..., ::-1])
        cv2.imwrite(str(root / "masks" / f"im{i}.bmp"), raw)


def test_cli_bench_noc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from annotator.cli import main

    data, out = tmp_path / "data", tmp_path / "out"
    _write_dataset(data)
    argv = [
        "bench",
        "noc",
        "--dataset",
        str(data),
        "--max-clicks",
        "4",
        "--out-dir",
        str(out),
        "--limit",
        "2",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "NoC@90:" in captured.out and "NoC@85:" in captured.out and "s/click:" in captured.out
    assert "[2/2]" in captured.err
    with open(out / "noc_per_image.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == ["im0", "im1"]
    assert all(float(r["iou_1"]) > 0.8 for r in rows)
    plot = cv2.imread(str(out / "noc_miou.png"))
    assert plot is not None and plot.shape[0] > 300 and plot.std() > 10


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from annotator.cli import main

    assert main(["bench", "noc", "--dataset", str(tmp_path / "missing")]) == 2
    assert main(["bench", "noc", "--dataset", str(tmp_path), "--engine", "sam"]) == 2
    assert "checkpoint" in capsys.readouterr().err
