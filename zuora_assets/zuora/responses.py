"""How a Zuora answer is read, the one Zuora classifier: its error code and message, and whether it is a
success, a failure that retrying can fix (`ZuoraTransientError`), or one the user must fix."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from zuora_assets.common.retry import server_wait
from zuora_assets.zuora.errors import (
    ZuoraAuthError,
    ZuoraError,
    ZuoraFileTooLargeError,
    ZuoraPermissionError,
    ZuoraRequestError,
    ZuoraTransientError,
)

RETRYABLE_CATEGORIES = {"50", "60", "61", "70", "99"}  # last two digits of 8-digit Zuora codes (reference 5.2)
# A request that failed on the way: the connection, a timeout, or a body cut short (its Content-Length unmet).
TRANSIENT_REQUEST_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def error_detail(resp: requests.Response) -> tuple[str | None, str]:
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


def retryable_code(code: str | None) -> bool:
    """True for an 8-digit Zuora error code of a retryable category (lock, rate limit, server error)."""
    return bool(code) and len(code) == 8 and code.isdigit() and code[-2:] in RETRYABLE_CATEGORIES


@dataclass(frozen=True)
class Who:
    """Who asked, for the messages of refused credentials: the OAuth client, the tenant, the entity."""

    client_id: str
    base_url: str
    entity_id: str | None
    authenticated: bool  # False for the token request itself


def check_response(resp: requests.Response, where: str, *, stream: bool, who: Who) -> requests.Response:
    """`resp` if it is a success; else raise: `ZuoraTransientError` (429, 5xx, a retryable error code in an
    HTTP-200 body, a JSON body that does not parse: cut short) or the error the user must act on."""
    status = resp.status_code
    if status == 429 or status >= 500:
        raise ZuoraTransientError(f"HTTP {status}", status=status, retry_after=server_wait(resp.headers))
    if status >= 400:
        raise status_error(resp, where, who)
    if stream or "json" not in resp.headers.get("Content-Type", ""):
        return resp
    try:
        body = resp.json()
    except ValueError as exc:
        raise ZuoraTransientError(
            f"HTTP {status} with a JSON body that does not parse ({len(resp.content)} bytes, cut short? {exc})",
            status=status,
        ) from None
    if not isinstance(body, dict) or not (
        body.get("success") is False or body.get("status") == "error" or "errorCode" in body
    ):
        return resp
    code, message = error_detail(resp)
    if retryable_code(code):
        raise ZuoraTransientError(f"error {code} ({message})", status=status, code=code,
                                  retry_after=server_wait(resp.headers))
    raise ZuoraRequestError(f"{where}: Zuora answered with error {code}: {message}", status=status, code=code)


def status_error(resp: requests.Response, where: str, who: Who) -> ZuoraError:
    """The error of a 4xx answer (not 429), saying what to do. A 401 here is final: the token was renewed
    already, or it is the token request itself (`who.authenticated` is False)."""
    code, message = error_detail(resp)
    status = resp.status_code
    detail = f"{where}: HTTP {status}" + (f" error {code}" if code else "") + (f": {message}" if message else "")
    if status == 401 and not who.authenticated:
        return ZuoraAuthError(
            f"{detail}. Zuora rejected OAuth client {who.client_id!r} at {who.base_url}: check the client "
            "id and secret, and that they belong to this environment"
        )
    if status == 401:
        return ZuoraAuthError(
            f"{detail}. The token was refused even after renewing it: check that the OAuth client's user "
            "is active and allowed to use the API" + (f" for entity {who.entity_id}" if who.entity_id else "")
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
