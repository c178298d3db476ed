"""Widgets: main window, canvas, panels, dialogs and review mode. They hold no business state of their own."""
