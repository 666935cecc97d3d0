"""A scripted HTTP server on 127.0.0.1 for the Zuora client's HTTP-layer tests.

Each route (method, path) has a queue of canned replies; the last one repeats. Every request is
recorded with its headers and body. A reply with `cut_after` announces its full length, sends only
that many bytes and closes the connection (a cut download).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return self.body, "application/octet-stream"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class StubServer:
    """Scripted replies per route; `token_reply` answers `POST /oauth/token` unless scripted otherwise."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[Recorded] = []
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def _next(self, method: str, path: str) -> Reply:
        with self._lock:
            queue = self.routes.get((method, path))
            if queue is None and path == "/oauth/token":
                self.tokens_issued += 1
                return Reply(
                    200,
                    {"access_token": f"tok{self.tokens_issued}", "token_type": "bearer", "expires_in": 3599},
                )
            if not queue:
                return Reply(404, {"reasons": [{"code": "40", "message": f"no route {method} {path}"}]})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with stub._lock:
                    stub.requests.append(Recorded(self.command, path, dict(self.headers), body))
                reply = stub._next(self.command, path)
                data, ctype = reply.payload()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.get("Content-Type", ctype))
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                if reply.cut_after is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if reply.cut_after is not None:
                    self.wfile.write(data[: reply.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        return Handler

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
