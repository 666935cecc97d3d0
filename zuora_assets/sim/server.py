"""HTTP plumbing of the simulator: a threaded HTTP/1.1 server on 127.0.0.1, requests and responses.

The server knows nothing about Zuora: it parses each request into a `Request`, asks a handler for a
`Response`, reports the exchange to the handler's `record` hook for the request log, then writes the
response (streaming files in chunks, optionally cutting the connection mid-stream).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHUNK = 1 << 20


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The JSON body (ValueError when it is not JSON)."""
        return json.loads(self.body.decode("utf-8") or "null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Response:
    """What to answer: a body, or a file to stream (optionally cut after `cut_after` bytes)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    file_size: int = 0
    cut_after: int | None = None
    declare_cut: bool = False  # Content-Length is the cut's, not the file's: the client sees a whole, short file

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(data).encode(), "application/json;charset=UTF-8", headers or {})

    @classmethod
    def xml(cls, status: int, text: str, content_type: str = "application/xml;charset=UTF-8") -> Response:
        return cls(status, text.encode(), content_type)


Handler = Callable[[Request], Response]
Recorder = Callable[[Request, Response], None]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: without this, each
    # response waits ~40 ms for the client's delayed ACK
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the simulator keeps its own request log)."""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, url.path, url.query, {k.lower(): v for k, v in self.headers.items()}, body)
        resp = self.server.handler(req)
        self.server.recorder(req, resp)  # before answering: a client that got the answer finds it in the log
        self._write(resp)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", resp.content_type)
        size = resp.file_size if resp.file else len(resp.body)
        if resp.declare_cut and resp.cut_after is not None:
            size = min(size, resp.cut_after)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if resp.file is None:
            self.wfile.write(resp.body)
            return
        self._stream(resp.file, resp.cut_after, close=not resp.declare_cut)

    def _stream(self, path: Path, cut_after: int | None, close: bool = True) -> None:
        budget = cut_after
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK if budget is None else min(CHUNK, budget)):
                self.wfile.write(chunk)
                if budget is not None:
                    budget -= len(chunk)
                    if budget <= 0:
                        break
        if cut_after is not None and close:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


class SimHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that hands every request to `handler` and every exchange to `recorder`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, handler: Handler, recorder: Recorder):
        super().__init__((host, port), _RequestHandler)
        self.handler, self.recorder = handler, recorder
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="zuora-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
