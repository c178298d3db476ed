"""Device and precision choices, shared by every model family's builder."""

from __future__ import annotations

import torch

from sam_model.errors import SamModelError

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def parse_dtype(dtype: str) -> torch.dtype:
    try:
        return DTYPES[dtype]
    except KeyError:
        raise SamModelError(f"unsupported dtype {dtype!r}; use one of {', '.join(DTYPES)}") from None


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda, else mps, else cpu; an explicit cuda / mps that is absent: ``SamModelError``."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise SamModelError(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SamModelError(
            f"device {device!r} requested but CUDA is not available (torch {torch.__version__})"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SamModelError(f"device {device!r} requested but Apple MPS is not available on this machine")
    return dev
