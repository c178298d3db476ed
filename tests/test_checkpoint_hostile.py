"""Issue 15, item 3: a checkpoint whose weights hold NaN or Inf is refused by name; checkpoint errors never
suggest ``weights_only=False``."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from sam_model.checkpoint import load_state_dict_file
from sam_model.errors import CheckpointError


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_by_name(tmp_path: Path, bad: float) -> None:
    """Finding: a checkpoint with NaN weights was accepted; every click then said "the mask is empty"."""
    state = {"a.weight": torch.zeros(3, 3), "b.bias": torch.zeros(4)}
    state["b.bias"][2] = bad
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"'b\.bias' holds NaN or Inf") as info:
        load_state_dict_file(path)
    assert str(path) in str(info.value)


class _Payload:
    def __reduce__(self):  # a pickle that would run code if it were trusted
        return (print, ("pwned",))


@pytest.mark.parametrize("protocol", ["zip", "legacy"])
def test_pickle_errors_never_suggest_weights_only_false(tmp_path: Path, protocol: str) -> None:
    """Finding: pickle errors repeated PyTorch's advice to reload with weights_only=False."""
    path = tmp_path / "evil.pth"
    if protocol == "zip":
        torch.save({"model": _Payload()}, path)
    else:
        path.write_bytes(pickle.dumps({"model": _Payload()}, protocol=2))
    with pytest.raises(CheckpointError) as info:
        load_state_dict_file(path)
    text = str(info.value)
    assert "weights_only" not in text and "can still be loaded" not in text.lower()
    assert str(path) in text
