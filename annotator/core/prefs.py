"""Small per-user preferences kept in the settings file's extra keys: the hover preview switch, the last folder
and image, and the recent folders (File > Recent). Qt-free; read and written through ``annotator.core.settings``.
"""

from __future__ import annotations

from pathlib import Path

from annotator.core.settings import Settings, SettingsError, load_settings, save_settings

HOVER_PREVIEW = "hover_preview"
LAST_FOLDER = "last_folder"
LAST_IMAGE = "last_image"
RECENT_FOLDERS = "recent_folders"
MAX_RECENT = 8


def hover_preview_enabled(settings: Settings) -> bool:
    """Whether the hover preview is on (default: on)."""
    value = settings.extra.get(HOVER_PREVIEW, True)
    return value if isinstance(value, bool) else True


def recent_folders(settings: Settings) -> list[Path]:
    """Recently opened folders, newest first (entries that are not strings are ignored)."""
    value = settings.extra.get(RECENT_FOLDERS, [])
    if not isinstance(value, list):
        return []
    return [Path(v) for v in value if isinstance(v, str) and v]


def last_session(settings: Settings) -> tuple[Path | None, str | None]:
    """The folder and image the user had open last (``None`` for what is not recorded)."""
    folder = settings.extra.get(LAST_FOLDER)
    image = settings.extra.get(LAST_IMAGE)
    return (
        Path(folder) if isinstance(folder, str) and folder else None,
        image if isinstance(image, str) and image else None,
    )


def remember_folder(settings: Settings, folder: Path) -> None:
    """``folder`` becomes the last folder and the first of the recent ones (its last image is forgotten)."""
    text = str(folder)
    if settings.extra.get(LAST_FOLDER) != text:
        settings.extra.pop(LAST_IMAGE, None)
    settings.extra[LAST_FOLDER] = text
    recent = [str(p) for p in recent_folders(settings) if str(p) != text]
    settings.extra[RECENT_FOLDERS] = [text, *recent][:MAX_RECENT]


def remember_image(settings: Settings, folder: Path, image_key: str) -> None:
    """``image_key`` of ``folder`` is the one to reopen."""
    settings.extra[LAST_FOLDER] = str(folder)
    settings.extra[LAST_IMAGE] = image_key


def update_settings(change: object, path: Path | None = None) -> str | None:
    """Load the settings, apply ``change(settings)``, save; returns an error line for the user, or ``None``.

    The file is re-read each time so that keys written by other parts of the app are kept.
    """
    try:
        settings = load_settings(path)
        change(settings)  # type: ignore[operator]
        save_settings(settings, path)
    except (SettingsError, OSError) as exc:
        return f"Preferences not saved: {exc}"
    return None


def start_folder(settings: Settings, given: Path | None, fallback: Path) -> tuple[Path, str | None]:
    """Where the GUI opens: the ``given`` folder, else the last folder (if it still exists), else ``fallback``
    (the bundled samples); with the image to show first when it is the last folder (``None``: the first)."""
    last_folder, last_image = last_session(settings)
    if given is not None:
        folder = given
    elif last_folder is not None and last_folder.is_dir():
        folder = last_folder
    else:
        return fallback, None
    same = last_folder is not None and folder.resolve() == last_folder.resolve()
    return folder, last_image if same else None
