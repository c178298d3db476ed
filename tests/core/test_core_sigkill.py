"""SIGKILL at any moment loses no accepted instance (issue 3, item 8).

A child process accepts instances one after another through the autosaver (the same path the app uses) and
prints each instance's id once ``add_instance`` has returned, i.e. once the app would show it as accepted. The
parent kills the child with SIGKILL at varying moments, mid-save included, then reopens the folder: the project
must load and hold every reported instance.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.core.project_store import ProjectStore

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from annotator.core.masks import Mask
    from annotator.core.project_store import Autosaver, ProjectStore

    store = ProjectStore.open(sys.argv[1])
    if not store.project.categories:
        store.project.add_category("thing")
    if not store.project.images:
        store.project.add_image("img.png", 320, 240)
    category = store.project.categories[0].id
    saver = Autosaver(store)
    rng = np.random.default_rng(int(sys.argv[2]))
    while True:
        mask = np.zeros((240, 320), bool)
        y, x = rng.integers(0, 200), rng.integers(0, 280)
        mask[y : y + 40, x : x + 40] = True
        instance = store.project.new_instance(Mask.from_array(mask), category)
        store.project.add_instance("img.png", instance)  # the autosaver writes the file before this returns
        print(instance.id, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_at_any_moment_loses_no_accepted_instance(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((240, 320, 3), np.uint8)).save(tmp_path / "img.png")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    accepted: set[int] = set()
    for round_no, wait in enumerate((0.05, 0.3, 0.17, 0.6, 0.011, 0.4)):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(round_no)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        first = child.stdout.readline()  # the child is past start-up and saving in a loop
        assert first.strip().isdigit(), child.stderr.read()
        time.sleep(wait)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        accepted |= {int(line) for line in (first + out).split() if line.strip().isdigit()}
        store = ProjectStore.open(tmp_path)
        on_disk = {inst.id for inst in store.project.image("img.png").instances}
        missing = accepted - on_disk
        assert not missing, f"round {round_no}: accepted instances lost after SIGKILL: {sorted(missing)}"
        assert not store.warnings, store.warnings  # the main file itself was intact, no backup needed
    assert len(accepted) > 20  # the kills really interrupted a stream of saves
