"""Widgets: main window, canvas, panels, dialogs and review mode. They hold no business state of their own."""

import annotator.workers  # noqa: F401  (applies the PySide6 emit refcount workaround before any widget emits)
