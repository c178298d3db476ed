"""A proposal job's engine: without a checkpoint the classical proposals never decode through the segmenter, so
the job gets the in-process classical engine, not the app's child-process one (no process started for nothing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.workers.proposal_worker import default_generator, proposal_segmenter
from annotator.workers.requests import EngineRequest
from sam_model.classic.process import ProcessSegmenter
from sam_model.classic.segmenter import ClassicSegmenter


def test_classical_proposals_run_without_a_child_process() -> None:
    segmenter = proposal_segmenter(EngineRequest(None))
    assert type(segmenter) is ClassicSegmenter and not isinstance(segmenter, ProcessSegmenter)
    image = np.full((96, 128, 3), 40, np.uint8)
    image[20:70, 30:90] = (220, 200, 40)  # one plain object on a plain background
    records = default_generator(segmenter, image)
    assert records and all(r["segmentation"].shape == (96, 128) for r in records)


def test_a_checkpoint_gives_the_apps_engine(shared: Path) -> None:
    path = shared / "reference" / "sam" / "sam_tiny_a.pth"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    segmenter = proposal_segmenter(EngineRequest(str(path), "cpu", "float32"))
    assert callable(getattr(segmenter, "predict_torch", None))  # the SAM generator's path
