"""Precision that fits the hardware: ``dtype="auto"`` and the bfloat16 warning, with faked CPU flags."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from sam_model.device import bfloat16_warning, read_cpu_flags, resolve_dtype
from sam_model.errors import SamModelError

ZEN3 = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
SAPPHIRE_RAPIDS = ZEN3 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
COOPER_LAKE = ZEN3 | {"avx512f", "avx512_bf16"}
AMX_ONLY = ZEN3 | {"amx_bf16"}


def flags(value: frozenset[str] | None):
    return lambda: value


@pytest.mark.parametrize("cpu", [SAPPHIRE_RAPIDS, COOPER_LAKE, AMX_ONLY])
def test_auto_is_bfloat16_on_a_cpu_with_native_bf16(cpu: frozenset[str]) -> None:
    assert resolve_dtype("auto", "cpu", cpu_flags=flags(cpu)) == "bfloat16"
    assert bfloat16_warning("bfloat16", "cpu", cpu_flags=flags(cpu)) is None


@pytest.mark.parametrize("cpu", [ZEN3, None])
def test_auto_is_float32_without_native_bf16_or_when_flags_are_unknown(cpu: frozenset[str] | None) -> None:
    assert resolve_dtype("auto", "cpu", cpu_flags=flags(cpu)) == "float32"


def test_explicit_bfloat16_on_a_cpu_without_it_is_kept_and_warned_with_the_reason(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="sam_model.device"):
        assert resolve_dtype("bfloat16", "cpu", cpu_flags=flags(ZEN3)) == "bfloat16"
    assert "AVX512_BF16" in caplog.text and "slow" in caplog.text
    warning = bfloat16_warning("bfloat16", "cpu", cpu_flags=flags(ZEN3))
    assert warning is not None and "neither AVX512_BF16 nor AMX" in warning
    unknown = bfloat16_warning("bfloat16", "cpu", cpu_flags=flags(None))
    assert unknown is not None and "cannot be read" in unknown
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sam_model.device"):
        resolve_dtype("bfloat16", "cpu", cpu_flags=flags(ZEN3), log_warning=False)
    assert caplog.text == ""


def test_explicit_float32_is_kept_everywhere_and_unknown_dtypes_are_refused() -> None:
    assert resolve_dtype("float32", "cpu", cpu_flags=flags(SAPPHIRE_RAPIDS)) == "float32"
    assert bfloat16_warning("float32", "cpu", cpu_flags=flags(ZEN3)) is None
    with pytest.raises(SamModelError, match="float16"):
        resolve_dtype("float16", "cpu")


def test_auto_device_resolves_before_choosing(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_dtype("auto", "auto", cpu_flags=flags(COOPER_LAKE)) == "bfloat16"
    assert resolve_dtype("auto", "auto", cpu_flags=flags(ZEN3)) == "float32"


def test_cuda_follows_is_bf16_supported(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _device=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype("auto", "cuda", cpu_flags=flags(ZEN3)) == "bfloat16"
    assert bfloat16_warning("bfloat16", "cuda", cpu_flags=flags(ZEN3)) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype("auto", "cuda", cpu_flags=flags(SAPPHIRE_RAPIDS)) == "float32"


def test_cpu_flags_are_read_from_a_cpuinfo_file(tmp_path: Path) -> None:
    x86 = tmp_path / "cpuinfo"
    x86.write_text("processor\t: 0\nmodel name\t: Fake\nflags\t\t: fpu AVX2 avx512_bf16 amx_bf16\n\n")
    assert read_cpu_flags(x86) == frozenset({"fpu", "avx2", "avx512_bf16", "amx_bf16"})
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert read_cpu_flags(arm) == frozenset({"fp", "asimd", "bf16"})
    none = tmp_path / "none"
    none.write_text("processor\t: 0\n")
    assert read_cpu_flags(none) is None
    assert read_cpu_flags(tmp_path / "missing") is None
