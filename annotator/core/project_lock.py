"""One writer per project: a lock file beside the project file (ADR 0009).

``<project.json>.lock`` holds ``{"host", "pid", "time", "app"}`` of the process that writes the project. It is
created with ``O_CREAT | O_EXCL`` (atomic on local file systems and NFSv3+), removed when the holder closes
the project. A lock whose holder runs on this host and whose process no longer exists is *stale*: it can be
taken over, after asking (the UI) or with ``take_over_stale=True`` (the CLI never takes over on its own).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from annotator.core.errors import ProjectFileError


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project lock: ``host``, process id ``pid``, ``time`` (seconds since the epoch)."""

    host: str
    pid: int
    time: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        return f"process {self.pid} on {self.host} since {when}"


class ProjectLockedError(ProjectFileError):
    """The project is locked by another process; ``holder`` says who, ``stale`` whether it is gone."""

    def __init__(self, path: Path, holder: LockHolder, stale: bool) -> None:
        self.holder = holder
        self.stale = stale
        state = "no longer running (stale lock)" if stale else "has it open for writing"
        super().__init__(path, f"the project is locked: {holder.describe()} {state}")


def lock_file(project_file: Path) -> Path:
    return project_file.with_name(project_file.name + ".lock")


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return True  # no cheap check without extra dependencies: never called stale on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class ProjectLock:
    """The write lock of ``project_file``. ``acquire`` raises :class:`ProjectLockedError` when held."""

    def __init__(self, project_file: Path) -> None:
        self.project_file = Path(project_file)
        self.path = lock_file(self.project_file)
        self.held = False

    def holder(self) -> LockHolder | None:
        """The current holder, ``None`` when unlocked; an unreadable lock file counts as held by nobody
        known (host ``?``, never stale)."""
        try:
            data = json.loads(self.path.read_bytes()[:4096])
            return LockHolder(str(data["host"]), int(data["pid"]), float(data["time"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            try:
                mtime = self.path.stat().st_mtime
            except OSError:
                mtime = 0.0
            return LockHolder("?", -1, mtime)

    @staticmethod
    def is_stale(holder: LockHolder) -> bool:
        return holder.host == socket.gethostname() and holder.pid > 0 and not _pid_running(holder.pid)

    def acquire(self, *, take_over_stale: bool = False) -> None:
        """Take the lock, or raise :class:`ProjectLockedError` naming the holder (a stale one is taken
        over only with ``take_over_stale``)."""
        try:
            self.path.parent.mkdir(exist_ok=True)  # the project folder only: never a missing image folder
        except FileNotFoundError:
            raise ProjectFileError(self.path.parent.parent, "folder not found") from None
        record = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "app": "sam-annotator"}
        ).encode()
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    continue  # released meanwhile: try again
                stale = self.is_stale(holder)
                if not (stale and take_over_stale):
                    raise ProjectLockedError(self.project_file, holder, stale) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(record)
                handle.flush()
                os.fsync(handle.fileno())
            self.held = True
            return
        raise ProjectLockedError(self.project_file, self.holder() or LockHolder("?", -1, 0.0), False)

    def wait(self, timeout_s: float, *, poll_s: float = 0.2) -> None:
        """:meth:`acquire`, retrying until ``timeout_s`` seconds have passed (then the error is raised)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.acquire()
                return
            except ProjectLockedError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(poll_s)

    def release(self) -> None:
        """Remove the lock file if this process holds it."""
        if not self.held:
            return
        holder = self.holder()
        if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.held = False
