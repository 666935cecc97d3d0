"""The HTTP client of one Zuora tenant: OAuth tokens, standard headers, retries and checked responses.

Every request gets a fresh `Zuora-Track-Id`, the `Zuora-Entity-Ids` header when an entity is set, and
a bearer token that is cached and renewed shortly before it expires (and once on a 401). 429, 5xx,
connection errors and HTTP-200 bodies with a retryable error code are retried with full-jitter
exponential backoff that honours `Retry-After` and `RateLimit-Reset`. Other errors raise
`ZuoraError` subclasses whose messages name the request and say what to do. The client secret and
the token never appear in logs, messages or reprs.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import requests

from zuora_assets.common.retry import Backoff, retry
from zuora_assets.zuora.environments import resolve_base_url
from zuora_assets.zuora.errors import (
    ZuoraAuthError,
    ZuoraConfigError,
    ZuoraDataError,
    ZuoraError,
    ZuoraFileTooLargeError,
    ZuoraJobError,
    ZuoraPermissionError,
    ZuoraRequestError,
    ZuoraTransientError,
)
from zuora_assets.zuora.responses import TRANSIENT_REQUEST_ERRORS, Who, check_response

__all__ = [
    "ZuoraAuthError",
    "ZuoraClient",
    "ZuoraConfigError",
    "ZuoraDataError",
    "ZuoraError",
    "ZuoraFileTooLargeError",
    "ZuoraJobError",
    "ZuoraPermissionError",
    "ZuoraRequestError",
    "ZuoraTransientError",
]

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached token is renewed
DOWNLOAD_CHUNK = 1 << 20
_TRACK_ID_FORBIDDEN = re.compile(r"[^\x21-\x7e]|[:;\"']")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


class Sink(Protocol):
    """Where a download writes: a binary file, or anything that takes bytes and counts them."""

    def write(self, data: bytes, /) -> int | None: ...

    def tell(self) -> int: ...


class _Secret:
    """A string that never shows itself in a repr or a log line."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _Retry(ZuoraTransientError):
    """A retryable failure of this request itself (not of a request it needed, like the token's, which
    has had its own retries)."""


class ZuoraClient:
    """An authenticated, retrying HTTP client for one Zuora tenant (optionally one entity of it).

    `sleep` is used for every wait (backoff, and by the extractor for polling) and `clock` (monotonic
    seconds) for token expiry, so tests can replace both; `session` may be a preconfigured
    `requests.Session`.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        environment: str | None = None,
        base_url: str | None = None,
        entity_id: str | None = None,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        timeout: tuple[float, float] = (10, 300),
        sleep: Callable[[float], None] = time.sleep,
        track_id_prefix: str = "zuora-athena",
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ):
        if not client_id or not client_secret:
            raise ZuoraConfigError("Zuora OAuth client id and secret are required: set both")
        if max_attempts < 1:
            raise ZuoraConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        if _TRACK_ID_FORBIDDEN.search(track_id_prefix) or len(track_id_prefix) > 40:
            raise ZuoraConfigError(
                f"track_id_prefix {track_id_prefix!r} must be at most 40 printable ASCII characters "
                "without spaces or :;\"'"
            )
        self.base_url = resolve_base_url(environment, base_url)
        self.client_id = client_id
        self._secret = _Secret(client_secret)
        self.entity_id = entity_id
        self.max_attempts = max_attempts
        self.backoff = Backoff(backoff_base, backoff_cap)
        self.timeout = timeout
        self.sleep = sleep
        self.track_id_prefix = track_id_prefix
        self._clock = clock
        self._session = session or requests.Session()
        self._token: _Secret | None = None
        self._token_renew_at = 0.0
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        entity = f", entity_id={self.entity_id!r}" if self.entity_id else ""
        return f"ZuoraClient(base_url={self.base_url!r}, client_id={self.client_id!r}{entity})"

    # -- public API ---------------------------------------------------------------------------------

    def get(self, path: str, **kw: Any) -> requests.Response:
        """GET `path` (relative to the base URL) with retries; the body is checked for errors."""
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        """POST to `path` with retries; the body is checked for errors."""
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        """DELETE `path` with retries; the body is checked for errors."""
        return self.request("DELETE", path, **kw)

    def stream(self, path: str, **kw: Any) -> requests.Response:
        """GET `path` as a stream (status checked and retried; the caller reads and closes the body)."""
        return self.request("GET", path, stream=True, **kw)

    def request(self, method: str, path: str, *, stream: bool = False, **kw: Any) -> requests.Response:
        """Send an authenticated request with retries and return the successful response."""
        return self._send(method, self._url(path), authenticated=True, stream=stream, **kw)

    def download(self, path: str, dest: Path) -> int:
        """Download `path` into file `dest` (as `download_to`) and return its size in bytes."""
        with open(dest, "wb", buffering=0) as out:
            return self.download_to(path, out)

    def download_to(
        self, path: str, out: Sink, *, response: requests.Response | None = None, stop: threading.Event | None = None
    ) -> int:
        """Write the bytes of `path` to `out` in chunks and return their number.

        A cut download is resumed: the file is asked for again from the first missing byte (a `Range`
        request; when the answer is the whole file, the bytes already received are skipped), since a
        Zuora file id always serves the same bytes. `response` is an already opened `stream(path)` to
        read first; once `stop` is set the download ends early, keeping what it has.
        """
        opened = [response] if response is not None else []

        def attempt() -> int:
            resp, skip = (opened.pop(), 0) if opened else self._resume(path, out.tell())
            try:
                self._receive(resp, out, skip, stop)
                return out.tell()
            except requests.RequestException as exc:
                raise _Retry(f"download cut after {out.tell()} bytes ({type(exc).__name__})") from exc
            finally:
                resp.close()

        try:
            return retry(attempt, attempts=self.max_attempts, backoff=self.backoff,
                         retryable=lambda e: isinstance(e, _Retry), sleep=self.sleep, what=f"GET {path}")
        except _Retry as exc:
            raise ZuoraTransientError(
                f"GET {path}: gave up after {self.max_attempts} download attempts; last problem: {exc}. "
                "The connection to Zuora keeps breaking: retry later or raise max_attempts"
            ) from exc

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self) -> ZuoraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            raise ZuoraConfigError(f"pass a path relative to the Zuora base URL, not {path!r}")
        return f"{self.base_url}/{path.lstrip('/')}"

    def _resume(self, path: str, offset: int) -> tuple[requests.Response, int]:
        """A stream of `path` from byte `offset` on, and how many leading bytes of it to skip."""
        if offset == 0:
            return self.stream(path), 0
        resp = self.stream(path, headers={"Range": f"bytes={offset}-"})
        if resp.status_code != 206:
            return resp, offset  # the whole file again
        match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        start = int(match.group(1)) if match else -1
        if not 0 <= start <= offset:
            resp.close()
            raise ZuoraRequestError(
                f"GET {path}: asked for bytes from {offset} on, Zuora sent the range "
                f"{resp.headers.get('Content-Range')!r}; the download cannot resume: rerun the transfer",
                status=206,
            )
        return resp, offset - start

    @staticmethod
    def _receive(
        resp: requests.Response,
        out: Sink,
        skip: int,
        stop: threading.Event | None,
    ) -> None:
        """Append the body of `resp` to `out`, less its first `skip` bytes, until it ends or `stop` is set."""
        for chunk in resp.iter_content(DOWNLOAD_CHUNK):
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            if chunk:
                out.write(chunk)
            if stop is not None and stop.is_set():
                return

    def _headers(self, extra: Mapping[str, str] | None, authenticated: bool) -> dict[str, str]:
        headers = {"Zuora-Track-Id": f"{self.track_id_prefix}-{secrets.token_hex(8)}"}
        if self.entity_id:
            headers["Zuora-Entity-Ids"] = self.entity_id
        if authenticated:
            headers["Authorization"] = f"Bearer {self._bearer()}"
        headers.update(extra or {})
        return headers

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_renew_at:
                self._fetch_token()
            assert self._token is not None
            return self._token.value

    def _forget_token(self, refused: str) -> None:
        """Drop the cached token if it is the one Zuora refused (another thread may have renewed it)."""
        with self._token_lock:
            if self._token is not None and f"Bearer {self._token.value}" == refused:
                self._token = None

    def _fetch_token(self) -> None:
        data = {
            "client_id": self.client_id,
            "client_secret": self._secret.value,
            "grant_type": "client_credentials",
        }
        started = self._clock()
        resp = self._send("POST", self._url("/oauth/token"), authenticated=False, data=data)
        try:
            body = resp.json()
            token, expires_in = str(body["access_token"]), float(body.get("expires_in", 3599))
        except (ValueError, KeyError, TypeError):
            raise ZuoraAuthError(
                f"{self.base_url}/oauth/token answered without an access token: check that the base URL "
                "points at a Zuora REST endpoint"
            ) from None
        self._token = _Secret(token)
        self._token_renew_at = started + expires_in - min(TOKEN_REFRESH_MARGIN, expires_in / 2)
        log.debug("Zuora token obtained for client %s (valid %.0f s)", self.client_id, expires_in)

    def _send(
        self, method: str, url: str, *, authenticated: bool, stream: bool = False, **kw: Any
    ) -> requests.Response:
        where = f"{method} {url.removeprefix(self.base_url)}"
        extra_headers = kw.pop("headers", None)
        who = Who(self.client_id, self.base_url, self.entity_id, authenticated)
        refreshed = False

        def attempt() -> requests.Response:
            nonlocal refreshed
            headers = self._headers(extra_headers, authenticated)
            try:
                resp = self._session.request(method, url, headers=headers, timeout=self.timeout, stream=stream, **kw)
            except TRANSIENT_REQUEST_ERRORS as exc:
                raise _Retry(f"{type(exc).__name__}: the connection failed") from exc
            log.debug(
                "%s -> %s (Zuora-Request-Id %s, Zuora-Track-Id %s)",
                where, resp.status_code, resp.headers.get("Zuora-Request-Id"), headers["Zuora-Track-Id"],
            )
            if resp.status_code == 401 and authenticated and not refreshed:
                refreshed = True
                resp.close()
                self._forget_token(headers["Authorization"])
                return attempt()  # once more with a new token, in the same attempt
            try:
                return check_response(resp, where, stream=stream, who=who)
            except ZuoraTransientError as exc:
                resp.close()
                raise _Retry(str(exc), status=exc.status, code=exc.code, retry_after=exc.retry_after) from exc
            except ZuoraError:
                resp.close()
                raise

        try:
            return retry(attempt, attempts=self.max_attempts, backoff=self.backoff,
                         retryable=lambda e: isinstance(e, _Retry), sleep=self.sleep, what=where)
        except _Retry as exc:
            raise ZuoraTransientError(
                f"{where}: gave up after {self.max_attempts} attempts; last problem: {exc}. "
                "Zuora or the network keeps failing: retry later or raise max_attempts",
                status=exc.status, code=exc.code,
            ) from exc
