"""Fault injection rules: which requests they match, how often they fire, and their parameters.

A rule is a JSON object (POST /__sim/faults, or `Simulator.add_fault(rule)`):

    {"fault": "<kind>",            required, one of the kinds below
     "method": "GET",              optional; default: any method
     "path": "^/v1/files/",        optional regex searched in the URL path; default depends on the kind
     "query": "InvoiceItem",       optional case-insensitive substring of: the URL query string, the request
                                   body, and (for file faults) the ZOQL of the batch that made the file
     "times": 1,                   how many times it fires; null = every time (default 1; too_large: null)
     "after_n_calls": 0,           let this many matching requests through first
     ...kind parameters...}

Kinds and parameters (default path in brackets):
  request faults [any path except /__sim]
    http_429        retry_after=1 (s), with_retry_after=true -> 429 with Retry-After, RateLimit-Remaining: 0,
                    RateLimit-Reset; with_retry_after=false sends only the RateLimit-* headers
    http_5xx        status=503 (500|502|503|504), body="json" ({"success":false,...}) or "empty"
    200_false       code=50000060, message -> HTTP 200 {"success":false,"processId":..,"reasons":[..]}
    token_expire    invalidates every token now; the matching request gets 401
    token_429       [^/oauth/token$] retry_after=1 -> the token endpoint answers 429
    truncated_body  after_bytes=16: the answer's body is cut to that many bytes and sent with a Content-Length
                    that matches the cut (as a faulty proxy does): a JSON body that does not parse
  job faults, matched when a job is submitted [^/v1/batch-query/?$]
    slow_job        polls=3: the job needs that many extra polls before it completes
    job_fail_transient   the job ends "aborted", batches say "Internal Server Error (90022)"
    job_timeout     code=90027: job "aborted", batch message "... (90027)"; code=90029: job status "error"
    malformed_csv   line=1: the result files get a row with one field too many after data row `line`
  file faults, matched when a file is downloaded [^/v1/files?/]
    cut_download    after_bytes=1024: send the headers (full Content-Length) and that many bytes, then close;
                    content_length="cut" declares only the bytes sent (a faulty proxy): the file looks whole
    too_large       rows=0: files with more rows than this get 403 <security:max-object-size>2047MB</...>
    file_gone       404 {"reasons":[{"code":"FILE_NOT_FOUND",...}]}
  immediate changes (applied when added, never stored)
    burst           object, n, at (ISO datetime; default: sim clock) -> n new records updated in one second
    schema_drift    object, add={"name": "X__c", "type": "text"} and/or remove="FieldName"
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUEST_FAULTS = {"http_429", "http_5xx", "200_false", "token_expire", "token_429"}
BODY_FAULTS = {"truncated_body"}
JOB_FAULTS = {"slow_job", "job_fail_transient", "job_timeout", "malformed_csv"}
FILE_FAULTS = {"cut_download", "too_large", "file_gone"}
IMMEDIATE = {"burst", "schema_drift"}
KINDS = REQUEST_FAULTS | BODY_FAULTS | JOB_FAULTS | FILE_FAULTS | IMMEDIATE

DEFAULT_PATHS = {"token_429": r"^/oauth/token$", **dict.fromkeys(JOB_FAULTS, r"^/v1/batch-query/?$"),
                 **dict.fromkeys(FILE_FAULTS, r"^/v1/files?/")}
PARAMS: dict[str, dict[str, Any]] = {
    "http_429": {"retry_after": 1, "with_retry_after": True},
    "http_5xx": {"status": 503, "body": "json"},
    "200_false": {"code": 50000060, "message": "Internal error. Please retry."},
    "token_expire": {},
    "token_429": {"retry_after": 1},
    "slow_job": {"polls": 3},
    "job_fail_transient": {},
    "job_timeout": {"code": 90027},
    "malformed_csv": {"line": 1},
    "truncated_body": {"after_bytes": 16},
    "cut_download": {"after_bytes": 1024, "content_length": "full"},
    "too_large": {"rows": 0},
    "file_gone": {},
    "burst": {"object": None, "n": None, "at": None},
    "schema_drift": {"object": None, "add": None, "remove": None},
}
COMMON = {"fault", "method", "path", "query", "times", "after_n_calls"}


@dataclass
class FaultRule:
    """One validated rule and its counters."""

    fault: str
    params: dict[str, Any]
    path: re.Pattern
    method: str | None = None
    query: str | None = None
    times: int | None = 1
    after_n_calls: int = 0
    seen: int = 0
    fired: int = 0
    spec: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str, text: str) -> bool:
        """Count a matching request and say whether the rule fires for it."""
        if self.method and self.method.upper() != method.upper():
            return False
        if not self.path.search(path) or (self.query and self.query.lower() not in text.lower()):
            return False
        self.seen += 1
        if self.seen <= self.after_n_calls or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {**self.spec, "seen": self.seen, "fired": self.fired}


def parse_rule(spec: dict[str, Any]) -> FaultRule:
    """Validate a rule (see the module docstring); raises ValueError naming the bad key."""
    if not isinstance(spec, dict):
        raise ValueError(f"a fault rule is a JSON object, not {type(spec).__name__}")
    kind = spec.get("fault")
    if kind not in KINDS:
        raise ValueError(f"fault rule: 'fault' is {kind!r}; use one of {', '.join(sorted(KINDS))}")
    allowed = COMMON | set(PARAMS[kind])
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"fault rule {kind}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    try:
        path = re.compile(spec.get("path") or DEFAULT_PATHS.get(kind, r"^/(?!__sim)"))
    except re.error as e:
        raise ValueError(f"fault rule {kind}: 'path' is not a valid regex ({e})") from e
    default_times = None if kind == "too_large" else 1
    times = spec.get("times", default_times)
    if times is not None and (not isinstance(times, int) or times < 0):
        raise ValueError(f"fault rule {kind}: 'times' must be a whole number or null, not {times!r}")
    params = {k: spec.get(k, v) for k, v in PARAMS[kind].items()}
    _check_params(kind, params)
    return FaultRule(kind, params, path, spec.get("method"), spec.get("query"), times,
                     int(spec.get("after_n_calls", 0)), spec=dict(spec))


def _check_params(kind: str, params: dict[str, Any]) -> None:
    if kind == "http_5xx" and params["status"] not in (500, 502, 503, 504):
        raise ValueError(f"fault rule http_5xx: 'status' must be 500, 502, 503 or 504, not {params['status']!r}")
    if kind == "http_5xx" and params["body"] not in ("json", "empty"):
        raise ValueError(f"fault rule http_5xx: 'body' must be 'json' or 'empty', not {params['body']!r}")
    if kind in ("truncated_body", "cut_download") and (not isinstance(params["after_bytes"], int)
                                                       or params["after_bytes"] < 0):
        raise ValueError(f"fault rule {kind}: 'after_bytes' must be a whole number >= 0, not {params['after_bytes']!r}")
    if kind == "cut_download" and params["content_length"] not in ("full", "cut"):
        raise ValueError(f"fault rule cut_download: 'content_length' must be 'full' or 'cut', not "
                         f"{params['content_length']!r}")
    if kind == "job_timeout" and params["code"] not in (90027, 90029):
        raise ValueError(f"fault rule job_timeout: 'code' must be 90027 or 90029, not {params['code']!r}")
    if kind == "burst" and (not params["object"] or not isinstance(params["n"], int)):
        raise ValueError("fault rule burst: give 'object' (e.g. 'InvoiceItem') and 'n' (a whole number)")
    if kind == "schema_drift" and (not params["object"] or not (params["add"] or params["remove"])):
        raise ValueError("fault rule schema_drift: give 'object' and 'add' {name, type} and/or 'remove' (a field)")


RowLimit = Callable[[str, str], "int | None"]  # (file path, query) -> a `too_large` fault's row limit (FaultBook)


class FaultBook:
    """The active rules; thread-safe."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, kinds: set[str], method: str, path: str, text: str) -> FaultRule | None:
        """The first rule of one of `kinds` that fires for this request, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.fault in kinds and rule.matches(method, path, text):
                    return rule
        return None

    def row_limit(self, file_path: str, query: str) -> int | None:
        """The row count above which every download of the file at `file_path` of `query` is refused: the least
        `rows` of the `too_large` rules that fire every time for it. Counts nothing (the download does)."""
        with self._lock:
            limits = [int(rule.params["rows"]) for rule in self._rules
                      if rule.fault == "too_large" and rule.times is None and rule.after_n_calls == 0
                      and rule.method in (None, "GET", "get") and rule.path.search(file_path)
                      and (not rule.query or rule.query.lower() in query.lower())]
        return min(limits, default=None)

    def take_all(self, kinds: set[str], method: str, path: str, text: str) -> list[FaultRule]:
        """Every rule of `kinds` that fires for this request."""
        with self._lock:
            return [rule for rule in self._rules if rule.fault in kinds and rule.matches(method, path, text)]

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe() for r in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
