"""One loader for every model family: read a checkpoint file, tell its family, build its predictor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sam_model.checkpoint import file_sha256, load_state_dict_file

if TYPE_CHECKING:
    from sam_model.sam.predictor import SamPredictor


def load_predictor(
    checkpoint: str | Path, *, device: str = "auto", dtype: str = "float32", compile: bool = False
) -> SamPredictor:
    """Load a checkpoint file into its family's predictor (the architecture is detected from the state dict).

    ``model_id`` is ``f"{preset}-{sha256(file)[:16]}"`` (``custom`` for a non-preset architecture). Raises the
    ``CheckpointError`` family, each naming the file and the reason.
    """
    from sam_model.sam.build import load_sam_predictor

    state_dict = load_state_dict_file(checkpoint)
    suffix = file_sha256(checkpoint)[:16]
    return load_sam_predictor(
        state_dict, path=checkpoint, model_id_suffix=suffix, device=device, dtype=dtype, compile=compile
    )
