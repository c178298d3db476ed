"""Resumable, verified downloads against a local HTTP server on 127.0.0.1 (a thread in the test)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from annotator.core.download import (
    ChecksumMismatchError,
    DownloadCancelledError,
    DownloadError,
    download_file,
    part_path,
)

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes, not a multiple of the chunk size
SHA = hashlib.sha256(PAYLOAD).hexdigest()
CHUNK = 64 * 1024


@dataclass
class Route:
    """What the server does for one path.

    mode: ``ok`` (honours Range), ``no_range`` (ignores Range: always 200 + whole body), ``drop`` (the first
    ``drops`` requests send half the remaining body then close the connection), ``status`` (answers
    ``status_code`` for the first ``drops`` requests, then behaves like ``ok``).
    """

    body: bytes
    mode: str = "ok"
    drops: int = 1
    status_code: int = 503
    requests: list[str | None] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Route]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        return

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "not found")
            return
        rng = self.headers.get("Range")
        route.requests.append(rng)
        attempt = len(route.requests)
        if route.mode == "status" and attempt <= route.drops:
            self.send_error(route.status_code, "try later")
            return
        body, start = route.body, 0
        if rng and route.mode != "no_range":
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        if route.mode == "drop" and attempt <= route.drops:
            self.wfile.write(rest[: len(rest) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(rest)


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Route]]]:
    routes: dict[str, Route] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _fetch(url: str, dest: Path, **kwargs: object) -> Path:
    sleeps: list[float] = []
    kwargs.setdefault("sleep", sleeps.append)
    kwargs.setdefault("backoff_s", 0.01)
    return download_file(url, dest, chunk_bytes=CHUNK, timeout_s=10, **kwargs)  # type: ignore[arg-type]


def test_plain_download_verifies_and_reports_progress(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD)
    seen: list[tuple[int, int | None]] = []
    dest = _fetch(
        f"{base}/m.pth", tmp_path / "models" / "m.pth", sha256=SHA, progress=lambda d, t: seen.append((d, t))
    )
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert routes["/m.pth"].requests == [None]


def test_dropped_connection_resumes_with_range(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD, mode="drop", drops=2)
    sleeps: list[float] = []
    dest = _fetch(f"{base}/m.pth", tmp_path / "m.pth", sha256=SHA, sleep=sleeps.append)
    assert dest.read_bytes() == PAYLOAD
    requests = routes["/m.pth"].requests
    assert len(requests) == 3 and requests[0] is None
    # Each retry resumed where the previous attempt stopped: half, then three quarters of the file.
    half = len(PAYLOAD) // 2
    assert requests[1] == f"bytes={half}-"
    assert requests[2] == f"bytes={half + (len(PAYLOAD) - half) // 2}-"
    assert len(sleeps) == 2


def test_server_ignoring_range_restarts_from_zero(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD, mode="no_range")
    dest = tmp_path / "m.pth"
    part_path(dest).write_bytes(b"\xff" * 1000)  # a stale prefix that must not be kept
    _fetch(f"{base}/m.pth", dest, sha256=SHA)
    assert routes["/m.pth"].requests == ["bytes=1000-"]
    assert dest.read_bytes() == PAYLOAD


def test_corrupt_download_rejected_and_part_removed(server, tmp_path: Path) -> None:
    base, routes = server
    corrupt = bytearray(PAYLOAD)
    corrupt[len(corrupt) // 3] ^= 0x01
    routes["/m.pth"] = Route(bytes(corrupt))
    dest = tmp_path / "m.pth"
    with pytest.raises(ChecksumMismatchError) as info:
        _fetch(f"{base}/m.pth", dest, sha256=SHA)
    message = str(info.value)
    assert "m.pth" in message and SHA in message and hashlib.sha256(corrupt).hexdigest() in message
    assert not dest.exists() and not part_path(dest).exists()


def test_corrupt_resumed_prefix_is_caught(server, tmp_path: Path) -> None:
    """The resumed prefix is hashed too: a bad byte in it fails the checksum."""
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD)
    dest = tmp_path / "m.pth"
    prefix = bytearray(PAYLOAD[:5000])
    prefix[10] ^= 0xFF
    part_path(dest).write_bytes(bytes(prefix))
    with pytest.raises(ChecksumMismatchError):
        _fetch(f"{base}/m.pth", dest, sha256=SHA)
    assert routes["/m.pth"].requests == ["bytes=5000-"]
    assert not dest.exists() and not part_path(dest).exists()


def test_complete_part_file_is_finished_after_416(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD)
    dest = tmp_path / "m.pth"
    part_path(dest).write_bytes(PAYLOAD)
    _fetch(f"{base}/m.pth", dest, sha256=SHA)
    assert dest.read_bytes() == PAYLOAD and routes["/m.pth"].requests == [f"bytes={len(PAYLOAD)}-"]


def test_cancel_keeps_part_and_next_call_resumes(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD)
    dest = tmp_path / "m.pth"
    done: list[int] = []
    with pytest.raises(DownloadCancelledError):
        _fetch(
            f"{base}/m.pth",
            dest,
            sha256=SHA,
            progress=lambda d, t: done.append(d),
            cancel=lambda: len(done) > 3,
        )
    kept = part_path(dest).stat().st_size
    assert 0 < kept < len(PAYLOAD) and not dest.exists()
    _fetch(f"{base}/m.pth", dest, sha256=SHA)
    assert routes["/m.pth"].requests[-1] == f"bytes={kept}-"
    assert dest.read_bytes() == PAYLOAD


def test_retries_are_bounded_with_backoff(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD, mode="status", drops=100, status_code=503)
    sleeps: list[float] = []
    with pytest.raises(DownloadError, match="after 3 retries"):
        _fetch(f"{base}/m.pth", tmp_path / "m.pth", sha256=SHA, retries=3, backoff_s=0.5, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(routes["/m.pth"].requests) == 4


def test_transient_server_error_then_success(server, tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pth"] = Route(PAYLOAD, mode="status", drops=1, status_code=503)
    assert _fetch(f"{base}/m.pth", tmp_path / "m.pth", sha256=SHA).read_bytes() == PAYLOAD


def test_not_found_is_not_retried(server, tmp_path: Path) -> None:
    base, _ = server
    sleeps: list[float] = []
    with pytest.raises(DownloadError, match="404"):
        _fetch(f"{base}/missing.pth", tmp_path / "m.pth", sha256=SHA, sleep=sleeps.append)
    assert sleeps == []


def test_non_http_url_rejected(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="only http"):
        download_file("file:///etc/passwd", tmp_path / "x")
