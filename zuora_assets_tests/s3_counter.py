"""Test support: an HTTP proxy in front of the moto server that counts S3 requests by kind (LIST, HEAD, GET, PUT),
so a test can check what a reader costs whichever client sends the requests (boto3 or pyarrow's own)."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class S3Counter:
    """Forwards every request to `target` (http://host:port) and counts it; `url` is the proxy's address."""

    def __init__(self, target: str):
        self.target = urlparse(target)
        self.counts: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()  # object key -> GET/HEAD count
        self._lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                counter._count(self.command, self.path)
                upstream = http.client.HTTPConnection(
                    counter.target.hostname, counter.target.port, timeout=60
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["Host"] = counter.target.netloc
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in _HOP:
                        self.send_header(k, v)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _count(self, method: str, path: str) -> None:
        kind = "LIST" if method == "GET" and "list-type=2" in path else method
        with self._lock:
            self.counts[kind] += 1
            if kind in ("GET", "HEAD"):
                self.keys[unquote(path.split("?", 1)[0])] += 1

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.keys.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> S3Counter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
