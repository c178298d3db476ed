"""User settings: where models and the embedding cache live, which checkpoint is configured, custom models.

Locations (first match wins):

* settings directory: ``$SAM_ANNOTATOR_HOME``; otherwise the platform's per-user configuration folder
  (Linux/BSD ``$XDG_CONFIG_HOME/sam-annotator`` or ``~/.config/sam-annotator``; macOS
  ``~/Library/Application Support/sam-annotator``; Windows ``%APPDATA%\\sam-annotator``);
* models directory: ``Settings.models_dir`` if set, else ``<settings directory>/models``;
* embedding cache: ``Settings.cache_dir`` if set, else ``$SAM_ANNOTATOR_HOME/cache`` when that variable is
  set, else the platform's cache folder (``$XDG_CACHE_HOME/sam-annotator`` or ``~/.cache/sam-annotator``;
  macOS ``~/Library/Caches/sam-annotator``; Windows ``%LOCALAPPDATA%\\sam-annotator\\cache``) plus
  ``/embeddings``.

The file is ``<settings directory>/settings.json``, written atomically (temporary file in the same folder,
fsync, rename). Keys this module does not know are kept as they are, so other parts of the app can store
their own.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.atomic import atomic_write_bytes
from annotator.core.errors import CoreError

APP_DIR_NAME = "sam-annotator"
HOME_ENV = "SAM_ANNOTATOR_HOME"
SETTINGS_FILE = "settings.json"
DEFAULT_CACHE_MAX_BYTES = 4 * 1024**3
"""Default embedding-cache limit: 4 GiB, about 1000 SAM embeddings (4 MiB each)."""


class SettingsError(CoreError, ValueError):
    """The settings file cannot be read or has invalid content. The message names the file."""


def config_dir() -> Path:
    """The settings directory (not created here)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / APP_DIR_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_DIR_NAME
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_DIR_NAME


def default_cache_dir() -> Path:
    """The default embedding-cache directory (not created here)."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "cache"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP_DIR_NAME / "cache" / "embeddings"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / APP_DIR_NAME / "embeddings"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_DIR_NAME / "embeddings"


def settings_path() -> Path:
    """``<config_dir()>/settings.json``."""
    return config_dir() / SETTINGS_FILE


@dataclass
class CustomModel:
    """A checkpoint the user added by path.

    Attributes:
        name: unique name the user refers to it by.
        path: absolute path of the checkpoint file.
        preset: detected architecture (``vit_b`` / ``vit_l`` / ``vit_h``) or ``"custom"`` when it is a SAM
            state dict of another size.
        sha256: hex SHA-256 of the file when it was added.
        size: file size in bytes when it was added.
    """

    name: str
    path: str
    preset: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "preset": self.preset,
            "sha256": self.sha256,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CustomModel:
        if not isinstance(data, dict):
            raise TypeError(f"custom model entry must be an object, got {type(data).__name__}")
        return cls(
            name=str(data["name"]),
            path=str(data["path"]),
            preset=str(data.get("preset", "custom")),
            sha256=str(data.get("sha256", "")),
            size=int(data.get("size", 0)),
        )


@dataclass
class Settings:
    """User settings. ``None`` for a directory means "the default location".

    Attributes:
        checkpoint: path of the configured SAM checkpoint; ``None`` selects the classical engine.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        dtype: ``"auto"`` (bfloat16 where the hardware runs it natively, else float32), ``"float32"`` or
            ``"bfloat16"``.
        models_dir: where official checkpoints are downloaded.
        cache_dir: where image embeddings are cached.
        cache_max_bytes: embedding-cache size limit in bytes (least-recently-used entries are evicted).
        custom_models: checkpoints added by path.
        extra: keys of the file this class does not know, kept unchanged on save.
        path: the file these settings were loaded from / are saved to (not stored in the file).
    """

    checkpoint: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    models_dir: str | None = None
    cache_dir: str | None = None
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    custom_models: list[CustomModel] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)

    _KNOWN = ("checkpoint", "device", "dtype", "models_dir", "cache_dir", "cache_max_bytes", "custom_models")

    def resolved_models_dir(self) -> Path:
        """Directory of downloaded checkpoints."""
        return Path(self.models_dir).expanduser() if self.models_dir else config_dir() / "models"

    def resolved_cache_dir(self) -> Path:
        """Directory of the embedding cache."""
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()

    def custom_model(self, name: str) -> CustomModel | None:
        """The custom model called ``name``, if any."""
        return next((m for m in self.custom_models if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content of the settings file."""
        data = dict(self.extra)
        data.update(
            {
                "checkpoint": self.checkpoint,
                "device": self.device,
                "dtype": self.dtype,
                "models_dir": self.models_dir,
                "cache_dir": self.cache_dir,
                "cache_max_bytes": self.cache_max_bytes,
                "custom_models": [m.to_dict() for m in self.custom_models],
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | None = None) -> Settings:
        """Parse the file's content; raises ``SettingsError`` naming ``path`` on a bad value."""
        where = str(path) if path else "settings"
        try:
            settings = cls(
                checkpoint=_opt_str(data.get("checkpoint")),
                device=str(data.get("device", "auto")),
                dtype=str(data.get("dtype", "auto")),
                models_dir=_opt_str(data.get("models_dir")),
                cache_dir=_opt_str(data.get("cache_dir")),
                cache_max_bytes=int(data.get("cache_max_bytes", DEFAULT_CACHE_MAX_BYTES)),
                custom_models=[CustomModel.from_dict(m) for m in data.get("custom_models", [])],
                extra={k: v for k, v in data.items() if k not in cls._KNOWN},
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"{where}: invalid settings ({type(exc).__name__}: {exc})") from exc
        if settings.cache_max_bytes < 0:
            raise SettingsError(f"{where}: cache_max_bytes must be >= 0, got {settings.cache_max_bytes}")
        return settings


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file (default ``settings_path()``); defaults when it does not exist.

    Raises:
        SettingsError: the file exists but is unreadable, not JSON, or has invalid values.
    """
    path = Path(path) if path is not None else settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(path=path)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings ({exc.strerror or exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: settings file is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: settings file must hold a JSON object")
    return Settings.from_dict(data, path=path)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write ``settings`` atomically to ``path`` (default: the file they came from, or ``settings_path()``).

    Returns the path written.
    """
    target = Path(path) if path is not None else (settings.path or settings_path())
    atomic_write_bytes(
        target, (json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")
    )
    settings.path = target
    return target
