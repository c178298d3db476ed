"""The model options every model-running command shares: ``--device``, ``--dtype``, ``--config``, and the one
way those commands build their engine (:func:`load_engine`).

Any family's checkpoint (SAM v1, MobileSAM, SAM 2 / 2.1) is loaded through ``sam_model.build.load_predictor``,
which detects the family from the state dict; ``--config`` gives what shapes cannot tell for a checkpoint that
is not an official preset. ``--dtype auto`` (the default) is resolved here, so an explicit ``bfloat16`` on a
CPU without native bfloat16 prints one ``warning:`` line on stderr with the reason. Nothing here imports torch
until an engine is built (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sam_model.protocol import Segmenter

DTYPE_CHOICES = ("auto", "float32", "bfloat16")
"""Same as ``sam_model.device.DTYPE_CHOICES`` (kept here so that ``--help`` does not import torch)."""
DTYPE_HELP = (
    "model precision: auto (bfloat16 only where the hardware runs it natively: CUDA with bf16, a CPU with "
    "AVX512_BF16 or AMX; else float32), float32 or bfloat16"
)
CONFIG_HELP = (
    "architecture JSON for a checkpoint that is not an official preset (SAM / MobileSAM: the reference "
    "'config'; SAM 2: the 'model' tree); default: NAME.json next to the checkpoint, if any"
)


def add_model_options(
    parser: argparse.ArgumentParser, *, device_default: str | None = None, settings_default: bool = True
) -> None:
    """Add ``--device``, ``--dtype`` and ``--config`` to ``parser``.

    ``settings_default``: whether an omitted ``--device`` / ``--dtype`` falls back to the user settings (else
    to ``device_default`` / ``auto``).
    """
    where = "settings, else " if settings_default else ""
    parser.add_argument(
        "--device",
        default=device_default,
        help=f"auto, cpu, cuda, cuda:N or mps (default: {where}{device_default or 'auto'})",
    )
    parser.add_argument("--dtype", choices=DTYPE_CHOICES, help=f"{DTYPE_HELP} (default: {where}auto)")
    parser.add_argument("--config", type=Path, help=CONFIG_HELP)


def load_engine(
    checkpoint: str | Path | None,
    *,
    device: str = "auto",
    dtype: str = "auto",
    config: Path | None = None,
    stderr: TextIO | None = None,
) -> Segmenter:
    """The engine for a command: ``load_predictor(checkpoint)`` (any family), or the classical engine for
    ``None``. Raises the ``CheckpointError`` family (naming the file) and ``SamModelError`` (device / dtype)."""
    if checkpoint is None:
        if config is not None:
            from annotator.cli import CliError

            raise CliError("--config is only used with a checkpoint")
        from sam_model.classic.segmenter import ClassicSegmenter

        return ClassicSegmenter()
    from sam_model.build import load_predictor
    from sam_model.device import bfloat16_warning, resolve_device, resolve_dtype

    torch_device = resolve_device(device)
    warning = bfloat16_warning(dtype, torch_device)
    if warning is not None:
        print(f"warning: {warning}", file=stderr or sys.stderr)
    precision = resolve_dtype(dtype, torch_device, log_warning=False)
    return load_predictor(checkpoint, device=str(torch_device), dtype=precision, config=config)
