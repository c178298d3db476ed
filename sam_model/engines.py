"""Choose the interactive engine: SAM when a checkpoint is configured, the classical engine otherwise."""

from __future__ import annotations

from pathlib import Path

from sam_model.protocol import Segmenter


def create_segmenter(
    checkpoint: str | Path | None = None, *, device: str = "auto", dtype: str = "float32"
) -> Segmenter:
    """A :class:`Segmenter`: ``load_predictor(checkpoint)`` with a checkpoint, else the classical engine in a
    child process (``ProcessSegmenter``: its max-flow holds the GIL, which would stall the app's GUI thread).

    Raises the ``CheckpointError`` family (naming the file and the reason) for an unusable checkpoint, and
    ``SamModelError`` for an unavailable device or unknown dtype.
    """
    if checkpoint is None:
        from sam_model.classic.process import ProcessSegmenter

        return ProcessSegmenter()
    from sam_model.build import load_predictor

    return load_predictor(checkpoint, device=device, dtype=dtype)
