"""The CLI's shared model options: any family through load_predictor, ``--dtype auto`` and the bf16 warning."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import sam_model.device
from annotator.cli import CliError, main
from annotator.cli.model_options import load_engine
from sam_model.classic.segmenter import ClassicSegmenter

ZEN3 = frozenset({"avx", "avx2", "fma"})


def test_no_checkpoint_is_the_classical_engine_and_config_needs_a_checkpoint(tmp_path: Path) -> None:
    assert isinstance(load_engine(None), ClassicSegmenter)
    with pytest.raises(CliError, match="--config"):
        load_engine(None, config=tmp_path / "c.json")


def test_explicit_bfloat16_on_a_cpu_without_it_prints_one_warning_line(
    sam_reference: Path, monkeypatch
) -> None:
    monkeypatch.setattr(sam_model.device, "read_cpu_flags", lambda: ZEN3)
    err = io.StringIO()
    predictor = load_engine(sam_reference / "sam_tiny_a.pth", device="cpu", dtype="bfloat16", stderr=err)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: bfloat16 on this CPU will be slow")
    assert "AVX512_BF16" in lines[0]
    assert predictor.model_id, "loaded through load_predictor"

    err = io.StringIO()
    load_engine(sam_reference / "sam_tiny_a.pth", device="cpu", dtype="auto", stderr=err)
    assert err.getvalue() == "", "auto picks float32 on that CPU, silently"


def test_a_missing_checkpoint_is_reported_with_its_name(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere.pt"
    images = tmp_path / "images"
    images.mkdir()
    (images / "masks").mkdir()
    code = main(["bench", "noc", "--dataset", str(images), "--checkpoint", str(missing)])
    assert code == 2
    assert "nowhere.pt" in capsys.readouterr().err


def test_dtype_choices_include_auto_in_every_model_command() -> None:
    from annotator.cli import build_parser

    parser = build_parser()
    for argv in (
        ["encode", "x", "--dtype", "auto"],
        ["propagate", "x", "--ref", "a.png", "--instance", "1", "--out", "o.json", "--dtype", "auto"],
        ["auto", "x", "--out", "o.json", "--dtype", "auto", "--config", "c.json"],
        ["bench", "noc", "--dataset", "d", "--dtype", "auto", "--config", "c.json"],
    ):
        args = parser.parse_args(argv)
        assert args.dtype == "auto"
