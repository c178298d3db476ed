"""Device and precision choices, shared by every model family's builder.

Precision: ``"auto"`` (the default everywhere) is bfloat16 only where the hardware runs it natively, float32
otherwise (:func:`resolve_dtype`). On a CPU without native bfloat16 a bf16 matrix product is emulated and runs
6-100x slower than float32 (measured on an AMD Zen 3, AVX2 only), so an explicit ``"bfloat16"`` there is
allowed but warned about (:func:`bfloat16_warning`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from sam_model.errors import SamModelError

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}
DTYPE_CHOICES = ("auto", *DTYPES)
"""What the CLI, the settings and the app accept: ``auto`` picks per device (:func:`resolve_dtype`)."""
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU feature flags (Linux ``/proc/cpuinfo`` spelling) of a CPU that computes bfloat16 natively."""
CPUINFO = Path("/proc/cpuinfo")

CpuFlags = Callable[[], "frozenset[str] | None"]
"""Returns the CPU's feature flags (lower case), or ``None`` where they cannot be read."""


def read_cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` (Linux; x86 ``flags`` or ARM ``Features`` line), or
    ``None`` where that file does not exist or has no such line (macOS, Windows): the caller then assumes no
    native bfloat16."""
    if not sys.platform.startswith("linux") and cpuinfo == CPUINFO:
        return None
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.lower().split())
    return None


def native_bf16_reason(device: torch.device, cpu_flags: CpuFlags | None = None) -> tuple[bool, str]:
    """Whether ``device`` runs bfloat16 natively, and a short reason a user can read."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, f"CUDA device {torch.cuda.get_device_name(device)} supports bfloat16"
        return False, f"CUDA device {torch.cuda.get_device_name(device)} has no native bfloat16"
    if device.type != "cpu":
        return False, f"bfloat16 is not used on {device.type} by default"
    flags = (cpu_flags or read_cpu_flags)()
    if flags is None:
        return False, "the CPU's features cannot be read on this system, so native bfloat16 is not assumed"
    found = [f for f in NATIVE_BF16_CPU_FLAGS if f in flags]
    if found:
        return True, f"the CPU has {' and '.join(f.upper() for f in found)}"
    return False, "the CPU has neither AVX512_BF16 nor AMX, so bfloat16 is emulated (several times slower)"


def resolve_dtype(
    dtype: str,
    device: str | torch.device,
    *,
    cpu_flags: CpuFlags | None = None,
    log_warning: bool = True,
) -> str:
    """The precision to run with: ``"float32"`` or ``"bfloat16"``.

    ``"auto"`` -> bfloat16 where ``device`` (``"auto"`` is resolved first) runs it natively (CUDA with
    ``torch.cuda.is_bf16_supported()``; a CPU with AVX512_BF16 or AMX), else float32. An explicit dtype is
    kept; ``"bfloat16"`` on a device without native support is logged as a warning with the reason unless
    ``log_warning`` is false (callers also show :func:`bfloat16_warning` to the user). Raises
    ``SamModelError`` for an unknown dtype or device.
    """
    if dtype != "auto":
        parse_dtype(dtype)
        warning = bfloat16_warning(dtype, device, cpu_flags=cpu_flags)
        if warning is not None and log_warning:
            log.warning("%s", warning)
        return dtype
    native, _reason = native_bf16_reason(resolve_device(device), cpu_flags)
    return "bfloat16" if native else "float32"


def bfloat16_warning(
    dtype: str, device: str | torch.device, *, cpu_flags: CpuFlags | None = None
) -> str | None:
    """A one-line warning when an explicit ``"bfloat16"`` is asked for on a CPU without native bfloat16
    (``None`` otherwise: another dtype, ``"auto"``, or a device that is not a CPU)."""
    if dtype != "bfloat16":
        return None
    dev = resolve_device(device)
    if dev.type != "cpu":
        return None
    native, reason = native_bf16_reason(dev, cpu_flags)
    if native:
        return None
    return f"bfloat16 on this CPU will be slow: {reason}; use --dtype auto or float32"


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
