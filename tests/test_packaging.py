"""Packaging (issue 13, item 9): the wheel carries the bundled resources and the ``sam-annotator`` entry point
opens the GUI; ``python -m annotator`` works; resources are found through importlib.resources."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of this checkout (no build/ left here), offline: no build isolation, no
    dependencies, no index."""
    import shutil

    source = tmp_path_factory.mktemp("source") / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "out"),
    )
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ, PIP_NO_INPUT="1"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = list(out.glob("sam_annotator-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.mark.slow
def test_wheel_contains_resources_and_gui_entry_point(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in (
            "annotator/resources/keymap.json",
            "annotator/resources/default_categories.json",
            "annotator/resources/samples/astronaut.jpg",
            "annotator/__main__.py",
            "annotator/launcher.py",
            "sam_model/__init__.py",
        ):
            assert name in names, f"{name} missing from {wheel.name}"
        assert not any(n.startswith("tests/") for n in names)
        keymap = json.loads(archive.read("annotator/resources/keymap.json"))
        assert "accept" in keymap
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        parser = configparser.ConfigParser()
        parser.read_string(archive.read(entry_points).decode())
    assert parser["console_scripts"]["sam-annotator"] == "annotator.launcher:main"


@pytest.mark.slow
def test_installed_wheel_finds_its_resources_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """Unpacked elsewhere (as pip installs it), the package reads its resources from its own folder."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = (
        "import annotator.bundled as b, annotator.ui.actions as a;"
        "print(b.resource_dir('samples'));"
        "print(sorted(a.load_keymap())[:1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(site), QT_QPA_PLATFORM="offscreen"),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    samples = Path(done.stdout.splitlines()[0])
    assert samples.is_relative_to(site), samples
    assert (samples / "astronaut.jpg").is_file()


def test_resources_come_from_the_package() -> None:
    import annotator
    from annotator.bundled import read_resource_text, resource_dir

    assert resource_dir("samples").parent == Path(annotator.__file__).parent / "resources"
    assert json.loads(read_resource_text("default_categories.json"))["categories"]


def test_missing_resource_is_a_clear_error() -> None:
    from annotator.bundled import ResourceError, read_resource_text

    with pytest.raises(ResourceError, match=r"no-such\.json"):
        read_resource_text("no-such.json")


def test_python_m_annotator_runs_commands(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "annotator", "export", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m annotator export")


def test_no_arguments_means_the_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sam-annotator`` without arguments goes to the GUI (the samples folder), not to a usage error."""
    import annotator.launcher as launcher

    opened = []
    monkeypatch.setattr(launcher, "run_gui", lambda args: opened.append(args) or 0)
    assert launcher.main([]) == 0
    assert opened and opened[0].folder is None


def test_samples_open_from_a_copy_in_the_settings_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GUI writes its project next to the images it opens: the bundled samples are opened from a copy in the
    settings folder, never from the installed package; a second start keeps what the user left there."""
    from annotator.bundled import ResourceError, resource_dir, writable_copy
    from annotator.ui.app import samples_folder

    monkeypatch.setenv("SAM_ANNOTATOR_HOME", str(tmp_path / "home"))
    folder = samples_folder()
    bundled = resource_dir("samples")
    assert folder == tmp_path / "home" / "samples"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in bundled.iterdir() if p.is_file()
    )
    (folder / ".sam-annotator").mkdir()
    (folder / "rocket.jpg").write_bytes(b"edited by the user")
    (folder / "coffee.jpg").unlink()
    assert samples_folder() == folder
    assert (folder / ".sam-annotator").is_dir() and (
        folder / "rocket.jpg"
    ).read_bytes() == b"edited by the user"
    assert (folder / "coffee.jpg").read_bytes() == (bundled / "coffee.jpg").read_bytes()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ResourceError, match="cannot copy the bundled samples"):
        writable_copy("samples", blocker / "samples")
