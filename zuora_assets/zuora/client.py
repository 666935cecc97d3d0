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
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests

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
from zuora_assets.zuora.retry import full_jitter, server_wait

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
RETRYABLE_CATEGORIES = {"50", "60", "61", "70", "99"}  # last two digits of 8-digit Zuora codes (reference 5.2)
_TRACK_ID_FORBIDDEN = re.compile(r"[^\x21-\x7e]|[:;\"']")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-")


class _Secret:
    """A string that never shows itself in a repr or a log line."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _error_detail(resp: requests.Response) -> tuple[str | None, str]:
    """The Zuora error code and message of a response body, whatever its shape (JSON or XML/text)."""
    try:
        body = resp.json()
    except ValueError:
        return None, (resp.text or "").strip()[:300]
    if not isinstance(body, dict):
        return None, str(body)[:300]
    reasons = body.get("reasons") or []
    if reasons and isinstance(reasons[0], dict):
        return str(reasons[0].get("code")), str(reasons[0].get("message", ""))
    code = body.get("errorCode", body.get("code"))
    return (None if code is None else str(code)), str(body.get("message", ""))


def _body_error(resp: requests.Response) -> tuple[str | None, str] | None:
    """(code, message) when a successful response's JSON body reports an error, else None."""
    if "json" not in resp.headers.get("Content-Type", ""):
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if body.get("success") is False or body.get("status") == "error" or "errorCode" in body:
        return _error_detail(resp)
    return None


def _retryable_code(code: str | None) -> bool:
    return bool(code) and len(code) == 8 and code.isdigit() and code[-2:] in RETRYABLE_CATEGORIES


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
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.sleep = sleep
        self.track_id_prefix = track_id_prefix
        self._clock = clock
        self._session = session or requests.Session()
        self._rng = random.Random()
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

    def download(
        self,
        path: str,
        dest: Path,
        *,
        response: requests.Response | None = None,
        on_bytes: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Download `path` into file `dest` in chunks and return its size in bytes.

        A cut download is resumed: the file is asked for again from the first missing byte (a `Range`
        request; when the answer is the whole file, the bytes already received are skipped), since a
        Zuora file id always serves the same bytes. `response` is an already opened `stream(path)` to
        read first; `on_bytes(size)` is called after each chunk is on disk; once `stop` is set the
        download ends early, keeping what it has.
        """
        problem = ""
        with open(dest, "wb", buffering=0) as out:
            for attempt in range(1, self.max_attempts + 1):
                resp, skip = (response, 0) if response is not None else self._resume(path, out.tell())
                response = None
                try:
                    self._receive(resp, out, skip, on_bytes, stop)
                    return out.tell()
                except requests.RequestException as exc:
                    problem = f"download cut after {out.tell()} bytes ({type(exc).__name__})"
                    self._pause(attempt, f"GET {path}: {problem}", None)
                finally:
                    resp.close()
        raise ZuoraTransientError(
            f"GET {path}: gave up after {self.max_attempts} download attempts; last problem: {problem}. "
            "The connection to Zuora keeps breaking: retry later or raise max_attempts"
        )

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
        out: BinaryIO,
        skip: int,
        on_bytes: Callable[[int], None] | None,
        stop: threading.Event | None,
    ) -> None:
        """Append the body of `resp` to `out`, less its first `skip` bytes, until it ends or `stop` is set."""
        for chunk in resp.iter_content(DOWNLOAD_CHUNK):
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            if chunk:
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(out.tell())
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
        refreshed = False
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            headers = self._headers(extra_headers, authenticated)
            try:
                resp = self._session.request(
                    method, url, headers=headers, timeout=self.timeout, stream=stream, **kw
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: the connection failed"
                self._pause(attempt, f"{where}: {problem}", None)
                continue
            log.debug(
                "%s -> %s (Zuora-Request-Id %s, Zuora-Track-Id %s)",
                where, resp.status_code, resp.headers.get("Zuora-Request-Id"), headers["Zuora-Track-Id"],
            )
            status = resp.status_code
            if status == 401 and authenticated and not refreshed:
                refreshed = True
                resp.close()
                self._forget_token(headers["Authorization"])
                continue
            if status == 429 or status >= 500:
                problem = f"HTTP {status}"
                resp.close()
                self._pause(attempt, f"{where}: {problem}", resp.headers)
                continue
            if status >= 400:
                raise self._status_error(resp, where, authenticated)
            body_error = None if stream else _body_error(resp)
            if body_error and _retryable_code(body_error[0]):
                problem = f"error {body_error[0]} ({body_error[1]})"
                self._pause(attempt, f"{where}: {problem}", resp.headers)
                continue
            if body_error:
                code, message = body_error
                raise ZuoraRequestError(
                    f"{where}: Zuora answered with error {code}: {message}", status=status, code=code
                )
            return resp
        raise ZuoraTransientError(
            f"{where}: gave up after {self.max_attempts} attempts; last problem: {problem}. "
            "Zuora or the network keeps failing: retry later or raise max_attempts"
        )

    def _pause(self, attempt: int, what: str, headers: Mapping[str, str] | None) -> None:
        """Wait before retry `attempt + 1` (nothing after the last attempt)."""
        if attempt >= self.max_attempts:
            return
        wait = max(full_jitter(attempt, self.backoff_base, self.backoff_cap, self._rng),
                   server_wait(headers or {}))
        log.warning("%s; retry %d of %d in %.1f s", what, attempt + 1, self.max_attempts, wait)
        self.sleep(wait)

    def _status_error(self, resp: requests.Response, where: str, authenticated: bool) -> ZuoraError:
        code, message = _error_detail(resp)
        status = resp.status_code
        detail = f"{where}: HTTP {status}" + (f" error {code}" if code else "") + (f": {message}" if message else "")
        if status == 401 and not authenticated:
            return ZuoraAuthError(
                f"{detail}. Zuora rejected OAuth client {self.client_id!r} at {self.base_url}: check the client "
                "id and secret, and that they belong to this environment"
            )
        if status == 401:
            return ZuoraAuthError(
                f"{detail}. The token was refused even after renewing it: check that the OAuth client's user "
                "is active and allowed to use the API" + (f" for entity {self.entity_id}" if self.entity_id else "")
            )
        if status == 403 and "max-object-size" in message:
            return ZuoraFileTooLargeError(
                f"{detail}. The result file is over Zuora's download limit: query a smaller window",
                status=status, code=code,
            )
        if status == 403:
            return ZuoraPermissionError(
                f"{detail}. The OAuth client's user lacks a permission for this call: grant it API access "
                "and the 'Enable DataSource Exports Reporting' permission"
            )
        return ZuoraRequestError(detail, status=status, code=code)
