"""Pick up files added to or removed from the open folder (Qt-free; the UI calls it on a file-watcher signal or
when the window is activated).

New image files get records (``project_store.sync_images``). A record whose file vanished is never dropped (its
annotations stay in the project and in exports): it is marked ``error`` with :data:`MISSING` so navigation skips
it, and it comes back as soon as the file does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotator.core.model import ImageStatus, Project
from annotator.core.project_store import sync_images

MISSING = "file missing from the folder"


@dataclass
class RescanReport:
    """What a rescan changed: image keys ``added``, ``missing`` (newly), ``returned`` (file back)."""

    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.missing or self.returned)

    def summary(self) -> str:
        parts = []
        if self.added:
            parts.append(f"{len(self.added)} new image(s)")
        if self.missing:
            parts.append(f"{len(self.missing)} image file(s) missing (their objects are kept)")
        if self.returned:
            parts.append(f"{len(self.returned)} image file(s) back")
        return "Folder changed: " + ", ".join(parts) if parts else ""


def rescan_folder(project: Project) -> RescanReport:
    """Bring the project's image list in line with its folder (see the module docstring)."""
    synced = sync_images(project)
    report = RescanReport(added=list(synced.added), failed=list(synced.failed))
    missing = set(synced.missing)
    for record in project.images:
        gone = record.file_name in missing
        marked = record.status is ImageStatus.ERROR and record.error == MISSING
        if gone and not marked:
            project.set_image_status(record.file_name, ImageStatus.ERROR, MISSING)
            report.missing.append(record.file_name)
        elif marked and not gone:
            status = ImageStatus.IN_PROGRESS if record.instances else ImageStatus.NOT_STARTED
            project.set_image_status(record.file_name, status)
            report.returned.append(record.file_name)
    return report
