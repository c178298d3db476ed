"""Prefetch: the model stepping of an image encoding that runs while the user works on another image (ADR 0006).

:func:`encode_steps`: an image encoding split into small steps (a generator). An engine that implements
:class:`~sam_model.protocol.SteppedEncoder` (the SAM family's predictors) does the stepping itself, a block or so
per step, without touching its current image, so the segment worker can answer a click between two steps and
resume the prefetch afterwards. Any other engine (classical engine, test fakes) is encoded in one step through
``set_image``, which replaces the engine's current image: the worker restores it afterwards
(:func:`needs_restore`).

Which images to prefetch is the session's policy (``annotator.core.prefetch_policy``); the files are decoded by
``annotator.workers.prefetch_loader``.
"""

from __future__ import annotations

import numpy as np

from sam_model.protocol import EncodeSteps, ImageEmbedding, Segmenter, SteppedEncoder


def needs_restore(segmenter: Segmenter) -> bool:
    """Whether :func:`encode_steps` replaces the engine's current image (the worker must restore it): true
    for an engine that does not implement :class:`~sam_model.protocol.SteppedEncoder`."""
    return not isinstance(segmenter, SteppedEncoder)


def encode_steps(segmenter: Segmenter, rgb: np.ndarray) -> EncodeSteps:
    """Encode ``rgb`` (``H x W x 3`` uint8) in steps; the generator's return value is the embedding.

    Step by step, without touching the current image, for an engine implementing
    :class:`~sam_model.protocol.SteppedEncoder` (its ``encode_steps``: a transformer block or so per step);
    otherwise one step through ``set_image`` + ``get_embedding`` (the worker restores the current image).
    """
    if isinstance(segmenter, SteppedEncoder):
        return (yield from segmenter.encode_steps(rgb))
    segmenter.set_image(rgb)
    return segmenter.get_embedding()


def run_to_end(steps: EncodeSteps) -> ImageEmbedding:
    """Run the remaining steps of ``steps`` and return the embedding."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
