"""Issue 15, item 1: one writer per project (finding: two windows, or a window and `import`, on one folder:
the last writer won and both handed out the same ids)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from annotator.core.project_lock import ProjectLock, ProjectLockedError
from annotator.core.project_store import default_project_file
from tests.core.helpers import write_image

REPO = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_writer_is_refused_with_the_holder(tmp_path: Path) -> None:
    path = default_project_file(tmp_path)
    first = ProjectLock(path)
    first.acquire()
    record = json.loads(first.path.read_text())
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname() and record["time"] > 0
    with pytest.raises(ProjectLockedError, match=f"process {os.getpid()} on") as info:
        ProjectLock(path).acquire()
    assert not info.value.stale
    first.release()
    assert not first.path.exists()
    ProjectLock(path).acquire()


def test_stale_lock_is_taken_over_only_when_asked(tmp_path: Path) -> None:
    path = default_project_file(tmp_path)
    lock = ProjectLock(path)
    lock.path.parent.mkdir(parents=True)
    dead = _dead_pid()
    lock.path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead, "time": 1.0}))
    with pytest.raises(ProjectLockedError, match="stale") as info:
        lock.acquire()
    assert info.value.stale and info.value.holder.pid == dead
    lock.acquire(take_over_stale=True)
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_cli_import_fails_with_the_holder_or_waits(tmp_path: Path) -> None:
    write_image(tmp_path / "img0.png")
    coco = tmp_path / "in.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}))
    lock = ProjectLock(default_project_file(tmp_path))
    lock.acquire()
    run = [sys.executable, str(REPO / "main.py"), "import", str(tmp_path), str(coco)]
    done = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert "locked" in done.stderr and f"process {os.getpid()}" in done.stderr
    assert "Traceback" not in done.stderr
    waiting = subprocess.Popen(
        [*run, "--wait", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    lock.release()
    _out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert not lock.path.exists()  # the CLI released it
