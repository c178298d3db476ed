"""Settings, the official checkpoint table, add/verify/use of checkpoints, and the ``models`` CLI."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotator.cli import main as cli_main
from annotator.core import model_manager as mm
from annotator.core.model_manager import OFFICIAL_MODELS, ModelManager, ModelManagerError, OfficialModel
from annotator.core.settings import (
    CustomModel,
    Settings,
    SettingsError,
    config_dir,
    default_cache_dir,
    load_settings,
    save_settings,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(home))
    monkeypatch.delenv("SAM_ANNOTATOR_MODEL_URL", raising=False)
    return home


def test_official_table_matches_reference(shared: Path) -> None:
    path = shared / "reference" / "sam" / "checkpoints.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    reference = {k: v for k, v in json.loads(path.read_text()).items() if isinstance(v, dict)}
    assert set(OFFICIAL_MODELS) == set(reference)
    assert len(reference) == 12 and {"vit_t", "sam2.1_hiera_tiny", "sam2_hiera_large"} <= set(reference)
    for name, model in OFFICIAL_MODELS.items():
        ref = reference[name]
        assert (model.name, model.file, model.url, model.sha256) == (
            name,
            ref["file"],
            ref["url"],
            ref["sha256"],
        )
        assert model.bytes == ref.get("bytes")
        if model.sha256 is not None:
            assert len(model.sha256) == 64 and int(model.sha256, 16) >= 0
        if "size" in ref:
            assert model.approx_size == ref["size"]
        assert model.approx_size.startswith("about ") and model.good_for, f"{name}: size and use for people"
    assert [m.name for m in mm.recommended_models()] == ["vit_t", "sam2.1_hiera_tiny"]
    assert list(OFFICIAL_MODELS)[:2] == ["vit_t", "sam2.1_hiera_tiny"], "the small ones first"


def test_settings_locations_and_round_trip(home: Path) -> None:
    assert config_dir() == home and default_cache_dir() == home / "cache"
    settings = load_settings()
    assert settings == Settings() and settings.resolved_models_dir() == home / "models"
    settings.checkpoint = "/x/model.pth"
    settings.custom_models.append(CustomModel("mine", "/x/model.pth", "vit_b", "ab" * 32, 123))
    settings.extra["recent_projects"] = ["/p/one.json"]  # another module's key
    written = save_settings(settings)
    assert written == home / "settings.json"
    assert not [p for p in home.iterdir() if p.name != "settings.json"]  # no temporary files left
    again = load_settings()
    assert again == settings and again.extra == {"recent_projects": ["/p/one.json"]}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"cache_max_bytes": -5}', "cache_max_bytes"),
    ],
)
def test_bad_settings_file_names_the_file(home: Path, content: str, match: str) -> None:
    home.mkdir(parents=True)
    (home / "settings.json").write_text(content)
    with pytest.raises(SettingsError, match=match) as info:
        load_settings()
    assert str(home / "settings.json") in str(info.value)


def test_add_verify_and_use_tiny_checkpoint(home: Path, sam_reference: Path, tmp_path: Path) -> None:
    pytest.importorskip("sam_model.build")
    ckpt = sam_reference / "sam_tiny_a.pth"
    manager = ModelManager(load_settings())
    report = manager.verify(ckpt)
    assert report.ok and report.official is None and report.custom is None
    assert report.preset == "custom"  # a SAM state dict, but not one of the official sizes
    assert report.sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()

    entry = manager.add(ckpt, name="tiny")
    assert (entry.name, entry.preset, entry.sha256, entry.size) == (
        "tiny",
        "custom",
        report.sha256,
        report.size_bytes,
    )
    assert manager.verify(ckpt, detect=False).custom == "tiny"
    with pytest.raises(ModelManagerError, match="reserved"):
        manager.add(ckpt, name="vit_b")

    assert manager.use("tiny") == ckpt.resolve()
    reloaded = load_settings()  # persisted
    assert reloaded.checkpoint == str(ckpt.resolve()) and reloaded.custom_model("tiny") == entry
    rows = {r.name: r for r in ModelManager(reloaded).list_models(verify=True)}
    assert rows["tiny"].active and rows["tiny"].verified is True and not rows["vit_b"].installed
    assert rows["sam2.1_hiera_tiny"].verified is None and rows["sam2.1_hiera_tiny"].family == "SAM 2.1"
    assert manager.use("classic") is None and load_settings().checkpoint is None


def test_vit_b_sized_state_dict_detected(home: Path, tmp_path: Path) -> None:
    build = pytest.importorskip("sam_model.sam.build")
    import torch

    path = tmp_path / "random_vit_b.pth"
    torch.save(build.build_sam("vit_b").state_dict(), path)
    assert ModelManager(load_settings()).add(path).preset == "vit_b"


def test_not_a_checkpoint_is_reported(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("sam_model.build")
    from sam_model.errors import CheckpointError

    bogus = tmp_path / "notes.pth"
    bogus.write_bytes(b"these are not weights" * 100)
    manager = ModelManager(load_settings())
    report = manager.verify(bogus)
    assert not report.ok and report.problem
    with pytest.raises(CheckpointError) as info:
        manager.add(bogus)
    assert "notes.pth" in str(info.value)
    assert load_settings().custom_models == []


def test_use_errors(home: Path) -> None:
    manager = ModelManager(load_settings())
    with pytest.raises(ModelManagerError, match=r"not installed.*models download vit_h"):
        manager.use("vit_h")
    with pytest.raises(ModelManagerError, match="neither a known model"):
        manager.use("no-such-model")
    with pytest.raises(ModelManagerError, match="unknown official model"):
        manager.download("vit_x")


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_cli_download_list_use(
    home: Path,
    file_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, root = file_server
    payload = b"pretend weights " * 50_000
    (root / "sam_vit_b_01ec64.pth").write_bytes(payload)
    fake = OfficialModel(
        "vit_b", "sam_vit_b_01ec64.pth", "https://invalid.example/x", hashlib.sha256(payload).hexdigest()
    )
    monkeypatch.setitem(mm.OFFICIAL_MODELS, "vit_b", fake)

    assert cli_main(["models", "download", "vit_b", "--url", base]) == 0
    out = capsys.readouterr()
    installed = home / "models" / "sam_vit_b_01ec64.pth"
    assert installed.read_bytes() == payload and "verified and installed" in out.out
    assert "100.0%" in out.err  # the progress bar reached the end

    assert cli_main(["models", "use", "vit_b"]) == 0
    assert load_settings().checkpoint == str(installed)
    assert cli_main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    line = next(x for x in listing.splitlines() if " vit_b " in f" {x} ")
    assert line.startswith("*") and "installed, verified" in line
    assert "not installed" in next(x for x in listing.splitlines() if "vit_l" in x)

    # A corrupt installed file is found by `list --verify`, and `download` replaces it.
    installed.write_bytes(payload[:-1] + b"X")
    assert cli_main(["models", "list", "--verify"]) == 0
    assert "CORRUPT" in capsys.readouterr().out
    monkeypatch.setenv("SAM_ANNOTATOR_MODEL_URL", base)  # the environment variable works like --url
    assert cli_main(["models", "download", "vit_b"]) == 0
    assert installed.read_bytes() == payload


def test_cli_corrupt_download_is_a_clean_error(
    home: Path,
    file_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, root = file_server
    (root / "sam_vit_l_0b3195.pth").write_bytes(b"not the real thing" * 1000)
    assert cli_main(["models", "--url", base, "download", "vit_l"]) == 2
    err = capsys.readouterr().err
    assert "error: sam_vit_l_0b3195.pth: checksum mismatch" in err and OFFICIAL_MODELS["vit_l"].sha256 in err
    assert "Traceback" not in err
    assert not list((home / "models").glob("sam_vit_l*"))


def test_cli_verify_and_add(
    home: Path, sam_reference: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("sam_model.build")
    ckpt = sam_reference / "sam_tiny_a.pth"
    assert cli_main(["models", "verify", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "preset:  custom" in out and hashlib.sha256(ckpt.read_bytes()).hexdigest() in out
    assert cli_main(["models", "use", str(ckpt)]) == 0  # a path: registered under its stem, then selected
    settings = load_settings()
    assert settings.checkpoint == str(ckpt.resolve())
    assert [m.name for m in settings.custom_models] == ["sam_tiny_a"]
    assert cli_main(["models", "use", str(ckpt)]) == 0  # already registered: not added twice
    assert cli_main(["models", "add", str(ckpt), "--name", "tiny"]) == 0
    assert [m.name for m in load_settings().custom_models] == ["sam_tiny_a", "tiny"]
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"\x00" * 64)
    assert cli_main(["models", "verify", str(bogus)]) == 1
    assert cli_main(["models", "add", str(bogus)]) == 2
    assert "bogus.pth" in capsys.readouterr().err


def test_a_download_without_published_checksum_is_accepted_once_it_loads_as_its_architecture(
    home: Path, file_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """SAM 2.1 tiny has no published SHA-256: a wrong architecture is refused and deleted, the right one is
    accepted, its checksum recorded, and a later corruption is found by verification against that record."""
    base, root = file_server
    served = root / "sam2.1_hiera_tiny.pt"
    identified: list[Path] = []

    def identify(path: Path) -> str:  # the model code's answer, keyed on the served bytes
        identified.append(path)
        return "sam2.1_hiera_tiny" if path.read_bytes().startswith(b"tiny") else "sam2.1_hiera_large"

    monkeypatch.setattr(mm, "identify_checkpoint", identify)
    manager = ModelManager(load_settings(), base_url=base)
    installed = manager.official_path("sam2.1_hiera_tiny")

    served.write_bytes(b"large" + bytes(range(256)) * 400)
    with pytest.raises(
        mm.DownloadError, match=r"sam2.1_hiera_tiny.pt: the download loads as 'sam2.1_hiera_large'"
    ):
        manager.download("sam2.1_hiera_tiny")
    assert not installed.exists() and not list(installed.parent.glob("*.part"))
    assert identified and identified[-1].name.endswith(".part"), "checked before it was moved into place"
    assert manager.expected_sha256("sam2.1_hiera_tiny") is None

    payload = b"tiny" + bytes(range(256)) * 400
    served.write_bytes(payload)
    assert manager.download("sam2.1_hiera_tiny") == installed
    sha = hashlib.sha256(payload).hexdigest()
    assert installed.read_bytes() == payload and manager.expected_sha256("sam2.1_hiera_tiny") == sha
    row = next(r for r in manager.list_models(verify=True) if r.name == "sam2.1_hiera_tiny")
    assert row.installed and row.verified is True
    assert manager.verify(installed, detect=False).official == "sam2.1_hiera_tiny"

    count = len(identified)
    assert manager.download("sam2.1_hiera_tiny") == installed and len(identified) == count, "kept as it is"

    installed.write_bytes(payload[:-1] + b"X")  # corrupted later: the recorded checksum catches it
    row = next(r for r in manager.list_models(verify=True) if r.name == "sam2.1_hiera_tiny")
    assert row.verified is False
    assert cli_main(["models", "list", "--verify"]) == 0
    assert "CORRUPT" in next(x for x in capsys.readouterr().out.splitlines() if "sam2.1_hiera_tiny" in x)


def test_a_download_that_is_no_checkpoint_is_refused_by_the_real_identification(
    home: Path, file_server: tuple[str, Path]
) -> None:
    base, root = file_server
    (root / "sam2_hiera_small.pt").write_bytes(b"<html>not found</html>" * 100)
    manager = ModelManager(load_settings(), base_url=base)
    with pytest.raises(
        mm.DownloadError, match=r"sam2_hiera_small\.pt: the download is not a usable checkpoint"
    ):
        manager.download("sam2_hiera_small")
    assert not list((home / "models").glob("sam2_hiera_small*"))


def test_identify_checkpoint_names_a_sam_file_and_refuses_others(sam_reference: Path, tmp_path: Path) -> None:
    from sam_model.errors import CheckpointError

    assert mm.identify_checkpoint(sam_reference / "sam_tiny_a.pth") in {"custom", "sam_tiny_a"}
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"bogus\.pt"):
        mm.identify_checkpoint(bogus)
