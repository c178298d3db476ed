"""``python main.py models list|download NAME|verify PATH|add PATH [--name N]|use NAME_OR_PATH``.

Settings come from ``$SAM_ANNOTATOR_HOME`` (or the platform default, see ``annotator.core.settings``). The
download address can be redirected with ``--url BASE`` or ``$SAM_ANNOTATOR_MODEL_URL`` (the file name is
appended), e.g. to a mirror or to a local test server.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from annotator.cli import CliError
from annotator.core.model_manager import OFFICIAL_MODELS, ModelManager, ModelManagerError, recommended_models
from annotator.core.settings import SettingsError, load_settings


class TextProgress:
    """A one-line progress bar on ``stream`` (stderr). On a terminal it redraws in place at most 10 times a
    second; otherwise it prints one line per 10 % step.

    Args:
        label: text before the bar.
        unit: ``"bytes"`` shows sizes in MiB; ``"items"`` shows counts.
    """

    def __init__(
        self, label: str, *, unit: str = "bytes", stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_step = -1
        self._start = time.monotonic()
        self._drawn = False

    def update(self, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` (``total`` ``None``: unknown)."""
        now = time.monotonic()
        finished = total is not None and done >= total
        if self._tty:
            if not finished and now - self._last_draw < 0.1:
                return
            self.stream.write("\r" + self._line(done, total, now))
        else:
            step = int(10 * done / total) if total else -1
            if step <= self._last_step and not (finished and not self._drawn):
                return
            self._last_step = step
            self.stream.write(self._line(done, total, now) + "\n")
        self._last_draw = now
        self._drawn = True
        self.stream.flush()

    def message(self, text: str) -> None:
        """Print ``text`` on its own line without garbling the bar."""
        if self._tty and self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line (terminal mode)."""
        if self._tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self, done: int, total: int | None, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        if self.unit == "bytes":
            amount = f"{done / 2**20:.1f}" + (f"/{total / 2**20:.1f} MiB" if total else " MiB")
            rate = f" {done / 2**20 / elapsed:.1f} MiB/s"
        else:
            amount = f"{done}" + (f"/{total}" if total is not None else "")
            rate = f" {done / elapsed:.2f}/s"
        if total:
            filled = min(self.width, int(self.width * done / total))
            bar = "[" + "#" * filled + "." * (self.width - filled) + f"] {100 * done / total:5.1f}%"
        else:
            bar = "[" + "?" * self.width + "]"
        return f"{self.label} {bar} {amount}{rate}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, download, verify, add and select SAM checkpoints")
    parser.add_argument(
        "--url",
        metavar="BASE",
        help="download base address (default: $SAM_ANNOTATOR_MODEL_URL, else official)",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="official models (installed or not) and your own")
    p.add_argument("--verify", action="store_true", help="hash every installed file (slow for large models)")
    p = sub.add_parser(
        "download",
        help="download an official checkpoint (resumes; verifies the published SHA-256, else that it "
        "loads as the expected architecture, and records its checksum)",
    )
    p.add_argument("name", choices=sorted(OFFICIAL_MODELS), help="official model")
    p.add_argument("--retries", type=int, default=5, help="retries after a dropped connection (default 5)")
    p.add_argument("--url", metavar="BASE", default=argparse.SUPPRESS, help="download base address")
    p = sub.add_parser("verify", help="checksum a checkpoint, identify it and detect its architecture")
    p.add_argument("path", type=Path)
    p = sub.add_parser("add", help="register your own checkpoint file")
    p.add_argument("path", type=Path)
    p.add_argument("--name", help="name to refer to it by (default: the file name without extension)")
    p = sub.add_parser("use", help="select the checkpoint the app and the CLI use ('classic' for none)")
    p.add_argument("target", metavar="NAME_OR_PATH")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        manager = ModelManager(load_settings(), base_url=args.url)
        return _ACTIONS[args.models_command](manager, args)
    except (ModelManagerError, SettingsError) as exc:
        raise CliError(str(exc)) from exc


def _list(manager: ModelManager, args: argparse.Namespace) -> int:
    rows = manager.list_models(verify=args.verify)
    print(f"models directory: {manager.models_dir}")
    print(f"{'':2}{'name':<24}{'family':<11}{'status':<22}{'size':>14}  path")
    for info in rows:
        if not info.installed:
            status = f"partial {_mib(info.partial_bytes)}" if info.partial_bytes else "not installed"
        elif info.verified is True:
            status = "installed, verified"
        elif info.verified is False:
            status = "installed, CORRUPT"
        else:
            status = "installed"
        if info.installed:
            size = _mib(info.size_bytes)
        else:
            size = _mib(info.expected_bytes) if info.expected_bytes else info.approx_size or "?"
        family = info.family if info.official else f"({info.preset})"
        mark = "*" if info.active else " "
        print(f"{mark:2}{info.name:<24}{family:<11}{status:<22}{size:>14}  {info.path}")
        if info.good_for:
            print(f"{'':26}{info.good_for}")
    if manager.active_checkpoint() is None:
        small = " or ".join(
            f"`models download {m.name}` ({m.family}, {m.approx_size})" for m in recommended_models()
        )
        print(f"active: classical engine (no checkpoint); one download gives much better masks: {small}")
    return 0


def _download(manager: ModelManager, args: argparse.Namespace) -> int:
    bar = TextProgress(f"{args.name}:")
    try:
        path = manager.download(args.name, progress=bar.update, retries=args.retries)
    finally:
        bar.close()
    print(f"{args.name}: verified and installed at {path}")
    if manager.active_checkpoint() is None:
        print(f"select it with: models use {args.name}")
    return 0


def _verify(manager: ModelManager, args: argparse.Namespace) -> int:
    report = manager.verify(args.path)
    print(f"file:    {report.path}")
    print(f"size:    {report.size_bytes} bytes")
    print(f"sha256:  {report.sha256}")
    if report.official:
        print(f"matches: official {report.official} ({OFFICIAL_MODELS[report.official].file})")
    elif report.custom:
        print(f"matches: custom model {report.custom!r}")
    else:
        print("matches: no official checksum (a custom or modified checkpoint)")
    print(f"preset:  {report.preset or 'unknown'}")
    if report.problem:
        print(f"problem: {report.problem}")
        return 1
    return 0


def _add(manager: ModelManager, args: argparse.Namespace) -> int:
    entry = manager.add(args.path, name=args.name)
    print(f"added {entry.name!r}: {entry.path} (preset {entry.preset}, sha256 {entry.sha256})")
    return 0


def _use(manager: ModelManager, args: argparse.Namespace) -> int:
    path = manager.use(args.target)
    print(f"active checkpoint: {path}" if path else "active engine: classical (no checkpoint)")
    return 0


_ACTIONS = {"list": _list, "download": _download, "verify": _verify, "add": _add, "use": _use}


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
