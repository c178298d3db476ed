"""Widgets: main window, canvas, panels, dialogs and review mode. They hold no business state of their own.

The PySide6 reference-count bug of ADR 0004 is handled by pinning ``PySide6-Essentials<6.12``, not at run time.
"""
