"""Guard against Qt bindings that leak references to None/True/False (PySide6 6.12.0 on Python 3.11).

Such a binding aborts the interpreter after some thousands of calls ("none_dealloc"), i.e. a long annotation
session dies. The reproducer runs in a subprocess so that a bad binding fails this test, not the whole suite.
"""

from __future__ import annotations

import os
import subprocess
import sys

REPRODUCER = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
app = QCoreApplication([])
class Emitter(QObject):
    fired = Signal()
emitter, timer = Emitter(), QTimer()
before = (sys.getrefcount(None), sys.getrefcount(True))
for _ in range(3000):
    app.processEvents()
    timer.setInterval(5)
    emitter.fired.emit()
after = (sys.getrefcount(None), sys.getrefcount(True))
print(before[0] - after[0], before[1] - after[1])
"""


def test_qt_binding_keeps_singleton_references() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", REPRODUCER], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, f"Qt binding crashed: {done.stderr[-500:]}"
    lost_none, lost_true = (int(v) for v in done.stdout.split())
    # A sound binding loses nothing; the broken one loses ~1 reference per call (thousands here).
    assert lost_none < 100 and lost_true < 100, (lost_none, lost_true)
