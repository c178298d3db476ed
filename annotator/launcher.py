"""Start the SAM annotator: ``sam-annotator [FOLDER] [--checkpoint PATH] [--device D] [--dtype T]`` (also
``python -m annotator`` and ``python main.py`` in a checkout) opens the GUI (the bundled samples without
FOLDER); ``sam-annotator COMMAND ...`` runs a headless command.

Nothing heavy is imported here: a headless command imports only its own module (``annotator.cli``), and the GUI
imports Qt when it starts."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from annotator.cli.commands import COMMANDS, command_names

log = logging.getLogger(__name__)


def program_name() -> str:
    """How the user started us, for usage lines: ``sam-annotator``, ``main.py`` or ``python -m annotator``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "sam-annotator"
    return "python -m annotator" if name == "__main__.py" else name


def commands_epilog() -> str:
    """The headless commands with their one-line help, from the command table (no command is imported)."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        f"  {name:<{width}}  {COMMANDS[name].help.replace('%%', '%')}" for name in sorted(command_names())
    ]
    return "\n".join([f"headless commands ({program_name()} COMMAND --help for the options of one):", *lines])


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="SAM annotator. Without COMMAND: open FOLDER (default: the bundled samples) in the GUI.",
        epilog=commands_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", nargs="?", type=Path, help="image folder to annotate")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint of any family: SAM v1, MobileSAM, SAM 2 / 2.1 (.pth / .pt); default: the one chosen in "
        "Settings > Models, else the classical engine",
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

    from annotator.bundled import ResourceError
    from annotator.core.prefs import start_folder
    from annotator.core.settings import Settings, SettingsError, load_settings
    from annotator.ui.app import StartupError, create_controller, samples_folder
    from annotator.ui.main_window import MainWindow
    from annotator.ui.models_settings import disk_cache, prefetch_depth, startup_engine
    from annotator.workers.threads import set_quit_wait

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SAM annotator")
    checkpoint = str(args.checkpoint.expanduser().resolve()) if args.checkpoint else None
    if checkpoint is not None and not Path(checkpoint).is_file():
        QMessageBox.critical(None, "Cannot start", f"{checkpoint}: checkpoint file not found")
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        QMessageBox.warning(None, "Settings not read", f"{exc}\nDefault settings are used.")
        settings = Settings()
    try:
        # The folder given, else the last one (and its last image), else the bundled samples.
        given = args.folder.expanduser().resolve() if args.folder is not None else None
        folder, start_image = start_folder(settings, given, samples_folder())
        folder = folder.expanduser().resolve()
    except ResourceError as exc:
        QMessageBox.critical(None, "Cannot start", str(exc))
        return 2
    engine, engine_warning = startup_engine(settings, checkpoint, args.device, args.dtype)
    try:
        from annotator.ui.lock_dialog import ask_locked

        controller, warnings = create_controller(
            folder,
            engine=engine,
            disk_cache=disk_cache(settings),
            prefetch_depth=prefetch_depth(settings),
            on_locked=lambda exc: ask_locked(None, exc),  # another process holds the project (ADR 0009)
        )
    except StartupError as exc:
        QMessageBox.critical(None, "Cannot open the folder", str(exc))
        return 2
    window = MainWindow(controller)
    window.engine_request = engine
    window.engine_view.show_request(engine)
    window.show()
    for warning in warnings:
        window.show_error("Project restored from backup", warning)
    if engine_warning is not None:
        window.show_error("Configured checkpoint not found", engine_warning)
    else:
        from annotator.ui.model_hint import maybe_show_model_hint

        maybe_show_model_hint(window, settings, engine.checkpoint)
    if start_image is not None and start_image in controller.image_keys:
        controller.open_image(start_image)  # where the user left off
    else:
        controller.step_image(+1)
    # Quit within a second: closing stops the threads, waiting at most QUIT_WAIT_MS for a job in progress.
    set_quit_wait(QUIT_WAIT_MS)
    status = int(app.exec())
    return finish(status)


QUIT_WAIT_MS = 250
"""How long quitting waits for each worker thread busy with a job (an encode cannot be interrupted)."""


def finish(status: int) -> int:
    """After the event loop: the project is saved (the window's close did it). Threads still finishing a job
    were told to stop; the process ends without waiting for them (a running QThread must not be destroyed)."""
    from annotator.workers.threads import parked_threads_running

    busy = parked_threads_running()
    if busy:
        log.info("quitting without waiting for %s", ", ".join(busy))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if argv and argv[0] in command_names():
        from annotator.cli import main as cli_main

        return cli_main(argv, prog=program_name())
    args = gui_parser().parse_args(argv)
    if args.folder is not None and not args.folder.is_dir():
        print(f"error: {args.folder}: image folder not found", file=sys.stderr)
        return 2
    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
