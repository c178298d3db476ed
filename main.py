"""Start the SAM annotator: ``python main.py [FOLDER] [--checkpoint PATH] [--device D] [--dtype T]`` opens the
GUI (the bundled samples without FOLDER); ``python main.py COMMAND ...`` runs a headless command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="SAM annotator. Without COMMAND: open FOLDER (default: the bundled samples) in the GUI.",
        epilog="Headless commands: python main.py COMMAND --help",
    )
    parser.add_argument("folder", nargs="?", type=Path, help="image folder to annotate")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint of any family: SAM v1, MobileSAM, SAM 2 / 2.1 (.pth / .pt); default: the one chosen in Settings > Models, else the classical engine",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="default: settings, auto")
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16"),
        help="model precision; auto: bfloat16 only where the hardware runs it natively (CUDA with bf16, a CPU "
        "with AVX512_BF16 or AMX), else float32 (default: settings, auto)",
    )
    return parser


def run_gui(args: argparse.Namespace) -> int:
    """Open the window; startup errors the user can act on are shown in a dialog, never as a traceback."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from annotator.core.settings import Settings, SettingsError, load_settings
    from annotator.ui.app import SAMPLES, StartupError, create_controller
    from annotator.ui.main_window import MainWindow
    from annotator.ui.models_settings import disk_cache, prefetch_depth, startup_engine

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SAM annotator")
    folder = (args.folder or SAMPLES).expanduser().resolve()
    checkpoint = str(args.checkpoint.expanduser().resolve()) if args.checkpoint else None
    if checkpoint is not None and not Path(checkpoint).is_file():
        QMessageBox.critical(None, "Cannot start", f"{checkpoint}: checkpoint file not found")
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        QMessageBox.warning(None, "Settings not read", f"{exc}\nDefault settings are used.")
        settings = Settings()
    engine, engine_warning = startup_engine(settings, checkpoint, args.device, args.dtype)
    try:
        controller, warnings = create_controller(
            folder, engine=engine, disk_cache=disk_cache(settings), prefetch_depth=prefetch_depth(settings)
        )
    except StartupError as exc:
        QMessageBox.critical(None, "Cannot open the folder", str(exc))
        return 2
    window = MainWindow(controller)
    window.engine_request = engine
    window.dtype_actions.get(engine.dtype, window.dtype_actions["auto"]).setChecked(True)
    window.show()
    for warning in warnings:
        window.show_error("Project restored from backup", warning)
    if engine_warning is not None:
        window.show_error("Configured checkpoint not found", engine_warning)
    else:
        from annotator.ui.model_hint import maybe_show_model_hint

        maybe_show_model_hint(window, settings, engine.checkpoint)
    controller.step_image(+1)
    return int(app.exec())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if argv and not argv[0].startswith("-"):
        from annotator.cli import command_names
        from annotator.cli import main as cli_main

        if argv[0] in command_names():
            return cli_main(argv)
    args = gui_parser().parse_args(argv)
    if args.folder is not None and not args.folder.is_dir():
        print(f"error: {args.folder}: image folder not found", file=sys.stderr)
        return 2
    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
