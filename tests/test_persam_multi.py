"""PerSAM-F weight fitting and the multi-instance search on synthetic data (no model, no reference files)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from sam_model.errors import PromptError
from sam_model.persam.multi import SearchOptions, StopReason, overlap, search_instances
from sam_model.persam.persam import PersamResult
from sam_model.persam.persam_f import dice_focal_loss, fit_mask_weights, loss_and_grad

H, W = 120, 160
_YY, _XX = np.mgrid[0:H, 0:W]


def _disc(cx: int, cy: int, r: int) -> np.ndarray:
    return (_XX - cx) ** 2 + (_YY - cy) ** 2 <= r * r


def _candidates() -> list[np.ndarray]:
    """Three nested candidate masks, as SAM's multimask output: a part, the object, the object and more."""
    part = _disc(80, 60, 12)
    whole = _disc(80, 60, 30)
    more = whole | (_XX < 40)
    return [part, whole, more]


@pytest.mark.parametrize("pick", [0, 1, 2])
def test_fit_picks_the_candidate_equal_to_the_reference(pick: int) -> None:
    gen = torch.Generator().manual_seed(pick)
    masks = _candidates()
    logits = torch.stack([torch.where(torch.from_numpy(m), 6.0, -6.0) for m in masks])
    logits = logits + torch.randn(logits.shape, generator=gen)
    start = time.perf_counter()
    weights, loss = fit_mask_weights(logits, torch.from_numpy(masks[pick]))
    seconds = time.perf_counter() - start
    print(f"PerSAM-F fit, 1000 steps on {H}x{W}: {seconds:.3f} s (weights {weights.numpy().round(3)})")
    assert int(torch.argmax(weights)) == pick
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-6)
    fused = (weights[:, None, None] * logits).sum(0) > 0
    iou = (fused.numpy() & masks[pick]).sum() / (fused.numpy() | masks[pick]).sum()
    assert iou > 0.95
    assert loss < 0.2


def test_gradient_matches_autograd() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 500, generator=gen) * 4
    target = (torch.rand(500, generator=gen) > 0.6).float()
    w = torch.tensor([0.1, 0.7], requires_grad=True)
    loss = dice_focal_loss(logits[0] + w @ (logits[1:] - logits[0]), target)
    loss.backward()
    ours, grad = loss_and_grad(
        w.detach().numpy(), logits[0].numpy(), (logits[1:] - logits[0]).numpy(), target.numpy()
    )
    assert ours == pytest.approx(float(loss.detach()), rel=1e-5)
    assert w.grad is not None
    assert np.allclose(grad, w.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_optimiser_matches_torch_adamw_with_cosine_schedule() -> None:
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 300, generator=gen) * 3
    target = (torch.rand(300, generator=gen) > 0.5).float()
    steps, lr = 200, 1e-2
    params = torch.full((2,), 1.0 / 3.0, requires_grad=True)
    optimizer = torch.optim.AdamW([params], lr=lr, eps=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        loss = dice_focal_loss(logits[0] + params @ (logits[1:] - logits[0]), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    weights, _ = fit_mask_weights(logits, target, steps=steps, lr=lr)
    assert np.allclose(weights[1:].numpy(), params.detach().numpy(), atol=1e-4)


def test_fit_rejects_bad_input() -> None:
    with pytest.raises(PromptError):
        fit_mask_weights(torch.zeros(2, 10), torch.zeros(10))
    with pytest.raises(PromptError):
        fit_mask_weights(torch.zeros(3, 10), torch.zeros(11))
    with pytest.raises(PromptError):
        fit_mask_weights(torch.zeros(3, 10), torch.zeros(10), steps=0)


# --- multi-instance search ---

BLOBS = ((30, 30, 0.9), (110, 40, 0.8), (70, 95, 0.7))
"""(x, y, peak similarity) of three objects."""


def _sim() -> torch.Tensor:
    sim = np.full((H, W), 0.1, dtype=np.float32)
    for x, y, peak in BLOBS:
        sim = np.maximum(sim, peak * np.exp(-((_XX - x) ** 2 + (_YY - y) ** 2) / (2 * 8.0**2)))
    return torch.from_numpy(sim.astype(np.float32))


def _result(mask: np.ndarray, sim: torch.Tensor) -> PersamResult:
    pos = int(torch.argmax(sim))
    point = np.array([[pos % W, pos // W]], dtype=np.int64)
    return PersamResult(mask, 0.9, point, np.array([1]), float(sim.reshape(-1)[pos]), (), None)


def _disc_at_max(sim: torch.Tensor, _original: torch.Tensor) -> PersamResult:
    """A fake decoder: a disc of radius 12 around the most similar pixel."""
    pos = int(torch.argmax(sim))
    return _result(_disc(pos % W, pos // W, 12), sim)


def _centres(found: tuple[PersamResult, ...]) -> list[tuple[int, int]]:
    return [(int(r.points[0, 0]), int(r.points[0, 1])) for r in found]


def test_search_stops_at_max_instances() -> None:
    result = search_instances(_sim(), _disc_at_max, SearchOptions(max_instances=2, min_similarity=0.3))
    assert result.stop_reason is StopReason.MAX_INSTANCES
    assert _centres(result.instances) == [(x, y) for x, y, _ in BLOBS[:2]]


def test_search_stops_at_similarity_floor() -> None:
    sim = _sim()
    result = search_instances(sim, _disc_at_max, SearchOptions(max_instances=10, min_similarity=0.5))
    assert result.stop_reason is StopReason.MIN_SIMILARITY
    assert _centres(result.instances) == [(x, y) for x, y, _ in BLOBS]
    assert torch.equal(sim, _sim())  # the caller's map is not modified
    nothing = search_instances(sim, _disc_at_max, SearchOptions(min_similarity=0.95))
    assert nothing.instances == () and nothing.stop_reason is StopReason.MIN_SIMILARITY


def test_search_stops_on_overlap() -> None:
    same = _disc(30, 30, 20)

    def always_the_same(sim: torch.Tensor, _original: torch.Tensor) -> PersamResult:
        return _result(same, sim)

    result = search_instances(_sim(), always_the_same, SearchOptions(max_instances=5, min_similarity=0.3))
    assert result.stop_reason is StopReason.OVERLAP
    assert len(result.instances) == 1 and result.rejected is not None
    # A mask mostly inside an earlier one also counts (coverage), even with a low IoU.
    inner = _disc(30, 30, 5)
    assert overlap(inner, [same], same) == pytest.approx(1.0)
    assert overlap(_disc(130, 90, 5), [same], same) == 0.0


def test_search_stops_on_empty_mask() -> None:
    def empty(sim: torch.Tensor, _original: torch.Tensor) -> PersamResult:
        return _result(np.zeros((H, W), dtype=bool), sim)

    result = search_instances(_sim(), empty, SearchOptions(min_similarity=0.0))
    assert result.stop_reason is StopReason.EMPTY_MASK and result.instances == ()


def test_search_options_are_checked() -> None:
    with pytest.raises(PromptError):
        SearchOptions(max_instances=0)
    with pytest.raises(PromptError):
        SearchOptions(max_overlap=1.5)
    with pytest.raises(PromptError):
        SearchOptions(suppress_dilation=-1)


def test_search_without_dilation_leaves_found_masks_untouched() -> None:
    """Suppressing the positive point must not write it into the returned mask (``suppress_dilation=0``)."""
    ring = _disc(30, 30, 12) & ~_disc(30, 30, 4)  # the positive point (30, 30) lies in the hole

    def ring_once(sim: torch.Tensor, _original: torch.Tensor) -> PersamResult:
        return _result(ring.copy(), sim)

    result = search_instances(
        _sim(), ring_once, SearchOptions(max_instances=1, min_similarity=0.3, suppress_dilation=0)
    )
    (found,) = result.instances
    assert (int(found.points[0, 0]), int(found.points[0, 1])) == (30, 30)
    assert np.array_equal(found.mask, ring)
