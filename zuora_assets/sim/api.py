"""The simulator's HTTP API: Zuora endpoints (OAuth, describe, AQuA, files, query action, data source
exports, Object Query), and the /__sim control plane (`control`).

Every Zuora endpoint except `POST /oauth/token` needs `Authorization: Bearer <token>` (file downloads too).
With two or more entities, a request without `Zuora-Entity-Ids` gets 400. Responses carry
`Zuora-Request-Id`, the echoed `Zuora-Track-Id`, `RateLimit-Limit/Remaining/Reset`, and on `/v1/*`
`Concurrency-Limit-Type/Limit/Remaining`. Error bodies:
  401 / 400 / 429 / 5xx   {"success": false, "processId": "...", "reasons": [{"code": <int>, "message": "..."}]}
  file 404                {"reasons": [{"code": "FILE_NOT_FOUND", "message": "..."}]}
  query action 400        {"faultcode": "fns:...", "faultstring": "...", "detail": {...}}  (`actions`)
  export create 400       {"Success": false, "Errors": [{"Code": "...", "Message": "..."}]}  (`exports`)
  file too large          403 XML <security:max-object-size>2047MB</security:max-object-size>
  /__sim errors           400 {"error": "..."}
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zuora_assets.sim import describe, objectquery, tz
from zuora_assets.sim.actions import ActionFault
from zuora_assets.sim.aqua import MALFORMED, AquaError
from zuora_assets.sim.control import ControlPlane
from zuora_assets.sim.exports import ExportRefused
from zuora_assets.sim.faults import BODY_FAULTS, JOB_FAULTS, REQUEST_FAULTS, FaultRule
from zuora_assets.sim.server import Request, Response
from zuora_assets.sim.tenant import Tenant

if TYPE_CHECKING:
    from zuora_assets.sim.simulator import Simulator

TOO_LARGE_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error xmlns:security="http://www.zuora.com/security">'
                 "<security:max-object-size>2047MB</security:max-object-size></Error>")
CONCURRENCY_LIMIT = 40
NO_DATA = {"done": True, "records": [], "size": 0}  # ProxyNoDataResponse: the 404 of a CRUD retrieve


def reasons(code: int | str, message: str, status: int) -> Response:
    """Zuora's REST error body."""
    return Response.json(status, {"success": False, "processId": uuid.uuid4().hex[:16].upper(),
                                  "reasons": [{"code": code, "message": message}]})


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: Callable[..., Response]
    auth: bool = True


class RateLimiter:
    """Requests per wall-clock minute, for the RateLimit-* headers and optional 429s."""

    def __init__(self, rpm: int | None):
        self.rpm, self.enforced = rpm or 50_000, rpm is not None
        self._window, self._count = 0, 0
        self._lock = threading.Lock()

    def hit(self) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, RateLimit-* headers)."""
        now = time.time()
        with self._lock:
            window = int(now // 60)
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            count = self._count
        headers = {"RateLimit-Limit": f"{self.rpm}, {self.rpm};w=60",
                   "RateLimit-Remaining": str(max(self.rpm - count, 0)), "RateLimit-Reset": str(60 - int(now % 60))}
        return not (self.enforced and count > self.rpm), headers


class ZuoraApi:
    """Routes requests of one Simulator to its tenants, jobs, faults and control plane."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.limiter = RateLimiter(sim.config.rate_limit_rpm)
        self._active = 0
        self._active_lock = threading.Lock()
        r = re.compile
        self.routes = [
            Route("POST", r(r"^/oauth/token$"), self.oauth_token, auth=False),
            Route("GET", r(r"^/v1/describe/?$"), self.describe_list),
            Route("GET", r(r"^/v1/describe/(?P<obj>[^/]+)$"), self.describe_object),
            Route("POST", r(r"^/v1/batch-query/?$"), self.aqua_submit),
            Route("GET", r(r"^/v1/batch-query/jobs/partner/(?P<partner>[^/]+)/project/(?P<project>[^/]+)$"),
                  self.aqua_last),
            Route("GET", r(r"^/v1/batch-query/jobs/(?P<job>[^/]+)$"), self.aqua_poll),
            Route("DELETE", r(r"^/v1/batch-query/jobs/(?P<job>[^/]+)$"), self.aqua_cancel),
            Route("GET", r(r"^/v1/files?/(?P<file>[^/]+)$"), self.file_download),
            Route("POST", r(r"^/v1/action/query$"), self.action_query),
            Route("POST", r(r"^/v1/action/queryMore$"), self.action_query_more),
            Route("POST", r(r"^/v1/object/export$"), self.export_create),
            Route("GET", r(r"^/v1/object/export/(?P<export>[^/]+)$"), self.export_get),
            Route("DELETE", r(r"^/v1/object/export/(?P<export>[^/]+)$"), self.export_delete),
            Route("GET", r(r"^/object-query/(?P<path>[^/]+)$"), self.object_query),
            Route("GET", r(r"^/object-query/(?P<path>[^/]+)/(?P<key>[^/]+)$"), self.object_query_one),
        ]
        self.control = ControlPlane(sim)

    # ----- dispatch -----

    def dispatch(self, req: Request) -> Response:
        """Answer one request; never raises."""
        with self._active_lock:
            self._active += 1
        try:
            if req.path.startswith("/__sim"):
                return self.control.dispatch(req)
            return self._zuora(req)
        except Exception as e:  # a simulator bug must not kill the connection thread
            traceback.print_exc()
            return reasons(50000060, f"simulator error: {type(e).__name__}: {e}", 500)
        finally:
            with self._active_lock:
                self._active -= 1

    def _zuora(self, req: Request) -> Response:
        allowed, limit_headers = self.limiter.hit()
        resp = self._fault(req) or (None if allowed else self._throttled(int(limit_headers["RateLimit-Reset"])))
        resp = resp or self._route(req)
        cut = self.sim.faults.take(BODY_FAULTS, req.method, req.path, _match_text(req))
        if cut and resp.file is None:
            resp.body = resp.body[: int(cut.params["after_bytes"])]
        resp.headers = {**limit_headers, **resp.headers, "Zuora-Request-Id": str(uuid.uuid4())}
        if req.header("Zuora-Track-Id"):
            resp.headers["Zuora-Track-Id"] = req.header("Zuora-Track-Id")
        if req.path.startswith("/v1/"):
            with self._active_lock:
                remaining = max(CONCURRENCY_LIMIT - self._active + 1, 0)
            resp.headers |= {"Concurrency-Limit-Type": "Default", "Concurrency-Limit-Limit": str(CONCURRENCY_LIMIT),
                             "Concurrency-Limit-Remaining": str(remaining)}
        return resp

    def _route(self, req: Request) -> Response:
        methods = []
        for route in self.routes:
            m = route.pattern.match(req.path)
            if not m:
                continue
            methods.append(route.method)
            if route.method != req.method:
                continue
            if route.auth and not self.sim.tokens.valid(_bearer(req)):
                return reasons(90000011, "Authentication error: the bearer token is missing, unknown or expired; "
                                         "get a new one from POST /oauth/token.", 401)
            tenant = self.sim.tenant_for(req.header("Zuora-Entity-Ids")) if route.auth else None
            if isinstance(tenant, str):
                return reasons(50000020, tenant, 400)
            return route.handler(req, tenant, **m.groupdict())
        if methods:
            return reasons(50000045, f"{req.method} is not supported on {req.path}; use {', '.join(methods)}.", 405)
        return reasons(50000040, f"No Zuora endpoint {req.method} {req.path} in the simulator.", 404)

    def _fault(self, req: Request) -> Response | None:
        rule = self.sim.faults.take(REQUEST_FAULTS, req.method, req.path, _match_text(req))
        if rule is None:
            return None
        if rule.fault == "token_expire":
            self.sim.tokens.expire_all()
            return None
        if rule.fault in ("http_429", "token_429"):
            return self._throttled(int(rule.params["retry_after"]), rule.params.get("with_retry_after", True))
        if rule.fault == "http_5xx":
            status = int(rule.params["status"])
            if rule.params["body"] == "empty":
                return Response(status, b"", "text/plain")
            return reasons(50000060, "Internal Server Error (injected fault); retry the request.", status)
        return reasons(int(rule.params["code"]), str(rule.params["message"]), 200)  # 200_false

    def _throttled(self, retry_after: int, with_retry_after: bool = True) -> Response:
        resp = reasons(50000070, f"Too many requests; retry after {retry_after} seconds.", 429)
        resp.headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(retry_after)}
        if with_retry_after:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    def record(self, req: Request, resp: Response) -> None:
        self.sim.log_request(req, resp)

    # ----- OAuth, describe -----

    def oauth_token(self, req: Request, tenant: Tenant | None) -> Response:
        form = req.form()
        if form.get("grant_type") != "client_credentials":
            return reasons(90000020, "grant_type must be client_credentials.", 400)
        if not self.sim.tokens.credentials_ok(form.get("client_id"), form.get("client_secret")):
            return reasons(90000011, "invalid credential: unknown client_id or wrong client_secret.", 401)
        return Response.json(200, self.sim.tokens.issue())

    def describe_list(self, req: Request, tenant: Tenant) -> Response:
        return Response.xml(200, describe.object_list(list(tenant.stores.values()), self.sim.base_url),
                            describe.CONTENT_TYPE)

    def describe_object(self, req: Request, tenant: Tenant, obj: str) -> Response:
        try:
            store = tenant.store(obj)
        except KeyError:
            return Response.xml(404, describe.not_found(obj), describe.CONTENT_TYPE)
        return Response.xml(200, describe.describe_object(store, self.sim.base_url), describe.CONTENT_TYPE)

    # ----- AQuA -----

    def aqua_submit(self, req: Request, tenant: Tenant) -> Response:
        try:
            body = req.json()
        except ValueError:
            return Response.json(200, MALFORMED)

        def faults() -> list[FaultRule]:
            return self.sim.faults.take_all(JOB_FAULTS, req.method, req.path, _match_text(req))

        resp = self._aqua(lambda: self.sim.aqua.submit(tenant, body, faults, self.sim.clock_ms()))
        job_id = json.loads(resp.body).get("id")
        if job_id:
            req.notes["job_id"] = job_id
        return resp

    def aqua_poll(self, req: Request, tenant: Tenant, job: str) -> Response:
        req.notes["job_id"] = job
        return self._aqua(lambda: self.sim.aqua.poll(job, self.sim.clock_ms()))

    def aqua_cancel(self, req: Request, tenant: Tenant, job: str) -> Response:
        req.notes["job_id"] = job
        return self._aqua(lambda: self.sim.aqua.cancel(job, self.sim.clock_ms()))

    def aqua_last(self, req: Request, tenant: Tenant, partner: str, project: str) -> Response:
        return self._aqua(lambda: self.sim.aqua.last_stateful(tenant, partner, project))

    @staticmethod
    def _aqua(call: Callable[[], dict[str, Any]]) -> Response:
        try:
            return Response.json(200, call())
        except AquaError as e:
            return Response.json(e.status, e.body)

    def file_download(self, req: Request, tenant: Tenant, file: str) -> Response:
        f = self.sim.aqua.files.get(file)
        text = f"{_match_text(req)} {f.query if f else ''}"
        take = self.sim.faults.take
        retention_ms = ((f.retention_days if f and f.retention_days else self.sim.config.file_retention_days)
                        * tz.DAY_MS)
        gone = take({"file_gone"}, req.method, req.path, text)
        if f is None or gone or self.sim.clock_ms() > f.created_ms + retention_ms:
            return Response.json(404, {"reasons": [{"code": "FILE_NOT_FOUND", "message":
                                 f"File {file} does not exist or was purged; rerun the query to get a new file."}]})
        too_large = take({"too_large"}, req.method, req.path, text)
        if too_large and f.rows > int(too_large.params["rows"]):
            return Response.xml(403, TOO_LARGE_XML)
        if f.too_large:  # its job found it over the simulator's max_file_bytes
            return Response.xml(403, TOO_LARGE_XML)
        if f.size is None:
            return Response.json(404, {"reasons": [{"code": "FILE_NOT_FOUND", "message":
                                 f"File {file} was never written: its query has not completed; poll job {f.job_id} "
                                 "until its query is completed, then download."}]})
        size = f.size
        cut = take({"cut_download"}, req.method, req.path, text)
        headers = {"Content-Disposition": f'attachment; filename="{f.path.name}"'}
        return Response(200, content_type=f.content_type, headers=headers, file=f.path, file_size=size,
                        cut_after=int(cut.params["after_bytes"]) if cut else None,
                        declare_cut=bool(cut) and cut.params["content_length"] == "cut")

    # ----- REST query action, data source exports -----

    def action_query(self, req: Request, tenant: Tenant) -> Response:
        return self._action(lambda body: self.sim.actions.query(tenant, body, self.sim.clock_ms()), req)

    def action_query_more(self, req: Request, tenant: Tenant) -> Response:
        return self._action(lambda body: self.sim.actions.query_more(body, self.sim.clock_ms()), req)

    @staticmethod
    def _action(call: Callable[[Any], dict[str, Any]], req: Request) -> Response:
        try:
            body = req.json()
        except ValueError:
            body = None
        try:
            return Response.json(200, call(body))
        except ActionFault as e:
            return Response.json(400, e.body)

    def export_create(self, req: Request, tenant: Tenant) -> Response:
        try:
            body = req.json()
        except ValueError:
            body = None
        try:
            return Response.json(200, self.sim.exports.create(tenant, body, self.sim.clock_ms()))
        except ExportRefused as e:
            return Response.json(e.status, e.body)

    def export_get(self, req: Request, tenant: Tenant, export: str) -> Response:
        found = self.sim.exports.get(export, self.sim.clock_ms())
        return Response.json(200, found) if found else Response.json(404, NO_DATA)

    def export_delete(self, req: Request, tenant: Tenant, export: str) -> Response:
        found = self.sim.exports.delete(export, self.sim.clock_ms())
        return Response.json(200, found) if found else Response.json(404, NO_DATA)

    # ----- Object Query -----

    def object_query(self, req: Request, tenant: Tenant, path: str) -> Response:
        return self._object_query(lambda: objectquery.run(tenant, path, req.query, self.sim.clock_ms()))

    def object_query_one(self, req: Request, tenant: Tenant, path: str, key: str) -> Response:
        return self._object_query(lambda: objectquery.get_one(tenant, path, key, req.query, self.sim.clock_ms()))

    @staticmethod
    def _object_query(call: Callable[[], dict[str, Any]]) -> Response:
        try:
            return Response.json(200, call())
        except objectquery.ObjectQueryError as e:
            return reasons(50000040 if e.status == 404 else 50000020, str(e), e.status)


def _bearer(req: Request) -> str | None:
    auth = req.header("Authorization") or ""
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def _match_text(req: Request) -> str:
    """What a fault rule's `query` substring is matched against: the query string and the body."""
    return f"{req.raw_query} {req.body.decode('utf-8', 'replace')}"
