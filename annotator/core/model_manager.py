"""The official checkpoints (SAM, MobileSAM, SAM 2 / 2.1; table in ``model_catalog``), the user's own
checkpoints, downloads and verification (no Qt).

The UI and the CLI use :class:`ModelManager`::

    manager = ModelManager(load_settings())
    for info in manager.list_models():                  # official (installed or not) + custom
        ...
    path = manager.download("vit_b", progress=cb, cancel=event.is_set)   # blocking: run it in a worker
    report = manager.verify(path)                       # checksum, which official model, detected preset
    manager.add(Path("my_sam.pth"), name="mine")        # user checkpoint, saved in the settings
    manager.use("vit_b")                                # sets settings.checkpoint and saves

Download addresses can be redirected (mirror, tests) with ``base_url=`` or ``$SAM_ANNOTATOR_MODEL_URL``:
the file name is appended to it.

Where upstream publishes no SHA-256 (SAM 2 / 2.1), a download is accepted once it loads as the expected
architecture (:func:`identify_checkpoint`, the one place that asks the model code); its SHA-256 is then
recorded (``<models>/.verified/accepted.json``) and every later verification compares against it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.core.download import (
    CancelCheck,
    ChecksumRecords,
    DownloadError,
    ProgressCallback,
    download_file,
    file_sha256,
    part_path,
)
from annotator.core.errors import CoreError
from annotator.core.model_catalog import OFFICIAL_MODELS, OfficialModel, recommended_models
from annotator.core.model_checks import AcceptedChecksums, identify_checkpoint
from annotator.core.settings import CustomModel, Settings, save_settings

BASE_URL_ENV = "SAM_ANNOTATOR_MODEL_URL"
CLASSIC_NAMES = ("classic", "none")
"""Names that ``use`` accepts to select the classical engine (no checkpoint)."""
__all__ = [
    "OFFICIAL_MODELS",
    "ModelManager",
    "ModelManagerError",
    "OfficialModel",
    "identify_checkpoint",
    "recommended_models",
]


class ModelManagerError(CoreError, ValueError):
    """A model operation the user asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class ModelInfo:
    """One row of the model list.

    Attributes:
        name: official preset name or the custom model's name.
        preset: architecture (an official preset name such as ``vit_b`` or ``sam2.1_hiera_tiny``, or
            ``custom``).
        official: whether it is one of :data:`OFFICIAL_MODELS`.
        path: where the checkpoint is (or will be downloaded to).
        installed: whether the file exists.
        size_bytes: size on disk in bytes (0 when not installed).
        expected_bytes: published size in bytes, when known.
        partial_bytes: bytes of an interrupted download (``<file>.part``) that ``download`` will resume.
        verified: ``True``/``False`` when the checksum is known to match / not to match; ``None`` not checked.
        active: whether it is the configured checkpoint.
        family: ``SAM``, ``MobileSAM``, ``SAM 2``, ``SAM 2.1`` (official) or ``""`` (custom).
        approx_size: the official download size for people (``"about 149 MB"``), ``""`` for custom.
        good_for: one line on speed against quality (official), ``""`` for custom.
    """

    name: str
    preset: str
    official: bool
    path: Path
    installed: bool
    size_bytes: int
    expected_bytes: int | None
    partial_bytes: int
    verified: bool | None
    active: bool
    family: str = ""
    approx_size: str = ""
    good_for: str = ""


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found out about a checkpoint file.

    Attributes:
        path: the file.
        size_bytes: its size in bytes.
        sha256: its hex SHA-256.
        official: name of the official model with this checksum, else ``None``.
        custom: name of a registered custom model with this checksum, else ``None``.
        preset: detected architecture, ``"custom"`` for a SAM of another size, ``None`` if undetermined.
        problem: why the file cannot be used as a checkpoint (``None`` when it can).
    """

    path: Path
    size_bytes: int
    sha256: str
    official: str | None
    custom: str | None
    preset: str | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.preset is not None


class ModelManager:
    """Lists, downloads, verifies and selects checkpoints; persists choices in ``settings``.

    Args:
        settings: the user settings (saved after ``add`` / ``use`` / ``remove``).
        base_url: download base address overriding the official one (file name appended); default
            ``$SAM_ANNOTATOR_MODEL_URL`` if set.
        persist: save the settings file after changes (``False`` for in-memory use).
    """

    def __init__(self, settings: Settings, *, base_url: str | None = None, persist: bool = True) -> None:
        self.settings = settings
        self.base_url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or None
        self.persist = persist

    @property
    def models_dir(self) -> Path:
        return self.settings.resolved_models_dir()

    @property
    def _records(self) -> ChecksumRecords:
        return ChecksumRecords(self.models_dir / ".verified")

    @property
    def _accepted(self) -> AcceptedChecksums:
        return AcceptedChecksums(self.models_dir / ".verified" / "accepted.json")

    def expected_sha256(self, name: str) -> str | None:
        """The SHA-256 the official model ``name`` must have: published, else recorded when its download was
        accepted, else ``None`` (not downloaded yet)."""
        model = self._official(name)
        return model.sha256 or self._accepted.get(model.file)

    def official_path(self, name: str) -> Path:
        """Where the official model ``name`` is (or will be) stored."""
        return self.models_dir / self._official(name).file

    def url_for(self, name: str) -> str:
        """Download address of the official model ``name`` (honouring the base-URL override)."""
        model = self._official(name)
        return f"{self.base_url.rstrip('/')}/{model.file}" if self.base_url else model.url

    def list_models(self, *, verify: bool = False) -> list[ModelInfo]:
        """Official models (installed or not), then custom ones. ``verify`` hashes every installed file."""
        entries: list[tuple[str, str, OfficialModel | None, Path, str | None, int | None]] = [
            (m.name, m.name, m, self.models_dir / m.file, self.expected_sha256(m.name), m.bytes)
            for m in OFFICIAL_MODELS.values()
        ]
        entries += [
            (c.name, c.preset, None, Path(c.path), c.sha256, c.size or None)
            for c in self.settings.custom_models
        ]
        active = self._active_path()
        rows: list[ModelInfo] = []
        for name, preset, model, path, sha, expected in entries:
            official = model is not None
            installed = path.is_file()
            verified: bool | None = None
            if installed and sha:
                verified = self._records.check(path, sha) if verify else self._records.recorded(path, sha)
            part = part_path(path)
            rows.append(
                ModelInfo(
                    name=name,
                    preset=preset,
                    official=official,
                    path=path,
                    installed=installed,
                    size_bytes=path.stat().st_size if installed else 0,
                    expected_bytes=expected,
                    partial_bytes=part.stat().st_size if official and part.is_file() else 0,
                    verified=verified,
                    active=active is not None and installed and _same(path, active),
                    family=model.family if model else "",
                    approx_size=model.approx_size if model else "",
                    good_for=model.good_for if model else "",
                )
            )
        return rows

    def download(
        self,
        name: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        retries: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> Path:
        """Download the official model ``name`` into the models directory (blocking: not on the GUI thread).

        An installed file with the right checksum is kept as it is. Resumes ``<file>.part``; verifies the
        SHA-256 before moving the file into place; a model without a published SHA-256 must load as its
        architecture instead (:func:`identify_checkpoint`), and its checksum is recorded then. See
        ``annotator.core.download.download_file`` for ``progress(bytes_done, bytes_total)``, ``cancel()``
        and the errors raised (``DownloadError`` also for a download of the wrong architecture).
        """
        model = self._official(name)
        dest = self.models_dir / model.file
        sha = self.expected_sha256(name)
        if dest.is_file() and sha and (self._records.recorded(dest, sha) or self._records.check(dest, sha)):
            if progress is not None:
                size = dest.stat().st_size
                progress(size, size)
            return dest
        kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        accepted: list[str] = []
        download_file(
            self.url_for(name),
            dest,
            sha256=model.sha256,
            expected_bytes=model.bytes,
            progress=progress,
            cancel=cancel,
            retries=retries,
            backoff_s=backoff_s,
            timeout_s=timeout_s,
            accept=None
            if model.sha256
            else lambda part, sha: accepted.append(self._accept(model, part, sha)),
            **kwargs,
        )
        actual = model.sha256 or accepted[0]
        if model.sha256 is None:
            self._accepted.set(model.file, actual)
        self._records.record(dest, actual)
        return dest

    def _accept(self, model: OfficialModel, path: Path, sha256: str) -> str:
        """Accept a download without a published checksum only when it loads as ``model``'s architecture;
        returns its ``sha256``. Raises ``DownloadError`` (the caller deletes the file)."""
        from sam_model.errors import CheckpointError

        try:
            found = identify_checkpoint(path)
        except CheckpointError as exc:
            raise DownloadError(
                f"{model.file}: the download is not a usable checkpoint ({exc.reason}); it was deleted"
            ) from exc
        if found != model.name:
            raise DownloadError(
                f"{model.file}: the download loads as {found!r}, not as {model.name!r}; it was deleted"
            )
        return sha256

    def verify(self, path: Path, *, detect: bool = True) -> VerifyReport:
        """Checksum ``path``, match it against the official and custom models, and detect its architecture.

        ``detect=False`` skips loading the file (the preset is then only known for official files).
        Raises ``FileNotFoundError`` when ``path`` is not a file.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such checkpoint file")
        sha = file_sha256(path)
        official = next((n for n in OFFICIAL_MODELS if self.expected_sha256(n) == sha), None)
        custom = next((m.name for m in self.settings.custom_models if m.sha256 == sha), None)
        preset: str | None = official
        problem: str | None = None
        if detect and official is None:
            from sam_model.errors import CheckpointError

            try:
                preset = identify_checkpoint(path)
            except CheckpointError as exc:
                problem = exc.reason
            model = OFFICIAL_MODELS.get(preset or "")
            if (  # an official file without published checksum, put in place by hand: accepted now
                model is not None
                and model.sha256 is None
                and self._accepted.get(model.file) is None
                and _same(path, self.models_dir / model.file)
            ):
                self._accepted.set(model.file, sha)
                official = model.name
        if official is not None:
            self._records.record(path, sha)
        return VerifyReport(path, path.stat().st_size, sha, official, custom, preset, problem)

    def add(self, path: Path, *, name: str | None = None) -> CustomModel:
        """Register the user's checkpoint ``path`` as ``name`` (default: the file's stem); save settings.

        Raises:
            FileNotFoundError: ``path`` is not a file.
            sam_model.errors.CheckpointError: it is not a usable SAM checkpoint.
            ModelManagerError: ``name`` is taken by an official model or another file.
        """
        path = Path(path).expanduser().resolve()
        report = self.verify(path)
        if report.problem is not None or report.preset is None:
            from sam_model.errors import ArchitectureMismatchError

            raise ArchitectureMismatchError(str(path), report.problem or "architecture not recognised")
        name = name or path.stem
        if name in OFFICIAL_MODELS or name in CLASSIC_NAMES:
            raise ModelManagerError(f"{name!r} is a reserved model name; choose another with --name")
        existing = self.settings.custom_model(name)
        if existing is not None and not _same(Path(existing.path), path):
            raise ModelManagerError(f"a custom model called {name!r} already exists ({existing.path})")
        entry = CustomModel(
            name=name, path=str(path), preset=report.preset, sha256=report.sha256, size=report.size_bytes
        )
        self.settings.custom_models = [m for m in self.settings.custom_models if m.name != name] + [entry]
        self._records.record(path, report.sha256)
        self._save()
        return entry

    def remove(self, name: str) -> None:
        """Forget the custom model ``name`` (its file is left alone)."""
        entry = self.settings.custom_model(name)
        if entry is None:
            raise ModelManagerError(f"no custom model called {name!r}")
        self.settings.custom_models = [m for m in self.settings.custom_models if m.name != name]
        if self.settings.checkpoint and _same(Path(self.settings.checkpoint), Path(entry.path)):
            self.settings.checkpoint = None
        self._save()

    def use(self, name_or_path: str) -> Path | None:
        """Make a model the configured checkpoint and save; return its path (``None``: classical engine).

        Accepts ``classic``/``none``, an official name (must be installed), a custom model's name, or a file
        path (registered as a custom model first if it is not one yet).
        """
        if name_or_path.lower() in CLASSIC_NAMES:
            self.settings.checkpoint = None
            self._save()
            return None
        if name_or_path in OFFICIAL_MODELS:
            path = self.official_path(name_or_path)
            if not path.is_file():
                raise ModelManagerError(
                    f"{name_or_path} is not installed ({path}); "
                    f"download it with `models download {name_or_path}`"
                )
        elif (custom := self.settings.custom_model(name_or_path)) is not None:
            path = Path(custom.path)
            if not path.is_file():
                raise ModelManagerError(f"custom model {custom.name!r}: file {path} no longer exists")
        else:
            path = Path(name_or_path).expanduser().resolve()
            if not path.is_file():
                known = ", ".join([*OFFICIAL_MODELS, *(m.name for m in self.settings.custom_models)])
                raise ModelManagerError(f"{name_or_path!r} is neither a known model ({known}) nor a file")
            registered = any(_same(Path(m.path), path) for m in self.settings.custom_models)
            official = any(_same(path, self.official_path(n)) for n in OFFICIAL_MODELS)
            if not registered and not official:
                self.add(path, name=self._free_name(path.stem))
        self.settings.checkpoint = str(path)
        self._save()
        return path

    def active_checkpoint(self) -> Path | None:
        """The configured checkpoint path, or ``None`` for the classical engine."""
        return self._active_path()

    # -- helpers -------------------------------------------------------------------------------------------

    def _official(self, name: str) -> OfficialModel:
        try:
            return OFFICIAL_MODELS[name]
        except KeyError:
            raise ModelManagerError(
                f"unknown official model {name!r}; known: {', '.join(OFFICIAL_MODELS)}"
            ) from None

    def _active_path(self) -> Path | None:
        return Path(self.settings.checkpoint).expanduser() if self.settings.checkpoint else None

    def _free_name(self, stem: str) -> str:
        name, n = stem, 2
        while name in OFFICIAL_MODELS or self.settings.custom_model(name) is not None:
            name, n = f"{stem}-{n}", n + 1
        return name

    def _save(self) -> None:
        if self.persist:
            save_settings(self.settings)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.expanduser().resolve() == b.expanduser().resolve()
    except OSError:
        return False
