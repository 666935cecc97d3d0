"""The Simulator: a Zuora tenant (one per entity) served over HTTP on 127.0.0.1, with a Python control API."""

from __future__ import annotations

import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from zuora_assets.sim import tz
from zuora_assets.sim.actions import Actions
from zuora_assets.sim.api import ZuoraApi
from zuora_assets.sim.aqua import Aqua
from zuora_assets.sim.auth import Tokens
from zuora_assets.sim.clock import SimClock
from zuora_assets.sim.config import SimConfig
from zuora_assets.sim.exports import Exports
from zuora_assets.sim.faults import IMMEDIATE, FaultBook, parse_rule
from zuora_assets.sim.server import Request, Response, SimHTTPServer
from zuora_assets.sim.tenant import Tenant
from zuora_assets.zuora.catalog import Field

REDACTED = "***"


class Simulator:
    """A simulated Zuora tenant: generated data, real HTTP, a controllable clock and fault injection.

    `with Simulator(cfg) as sim:` starts the server on a free port; `sim.base_url` is where it listens.
    Methods taking `entity=` act on that entity's data (default: the first, or only, entity).
    """

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self.now_ms = tz.to_ms(self.config.resolved_now())
        self._clock = SimClock(self.now_ms, self.config.clock_follows_wall)
        entity_ids = self.config.entities or (None,)
        self.tenants = [Tenant(self.config, i, e, self.now_ms) for i, e in enumerate(entity_ids)]
        scope = " ".join(["user.2c92a0fd4b1f6e3a014b2e6f1d3c0999"] + [f"entity.{e}" for e in self.config.entities]
                         + ["service.echo.read", "tenant.1"])
        self.tokens = Tokens(self.config.client_id, self.config.client_secret, self.config.token_expires_in, scope)
        self.faults = FaultBook()
        self._workdir: Path | None = None  # result files live here while the server runs
        self.aqua = Aqua(self.config, row_limit=self.faults.row_limit)
        self.actions = Actions()
        self.exports = Exports(self.config, self.aqua.files)
        self._log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._lag_ms = int(self.config.visibility_lag * 1000)
        self._api = ZuoraApi(self)
        self._server: SimHTTPServer | None = None

    # ----- lifecycle -----

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 = a free port) in a background thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._workdir = Path(tempfile.mkdtemp(prefix="zuora-sim-"))
        self.aqua.workdir = self.exports.workdir = self._workdir
        self._server = SimHTTPServer(host, port, self._api.dispatch, self._api.record)
        self._server.start()
        self._clock.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and delete the result files."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.aqua.reset()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() (or use `with Simulator(cfg) as sim`)")
        return self._server.base_url

    # ----- clock -----

    def clock(self) -> datetime:
        """The current sim time (aware UTC)."""
        return self._clock.now()

    def clock_ms(self) -> int:
        return self._clock.now_ms()

    def set_clock(self, when: datetime) -> None:
        self._clock.set(when)

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def set_visibility_lag(self, seconds: float) -> None:
        """Records changed from now on become visible `seconds` after their UpdatedDate."""
        self._lag_ms = int(seconds * 1000)

    # ----- tenants and data -----

    def tenant(self, entity: str | None = None) -> Tenant:
        """The data of `entity` (an entity UUID; None = the first entity)."""
        if entity is None:
            return self.tenants[0]
        for t in self.tenants:
            if t.entity_id and t.entity_id.lower() == entity.lower():
                return t
        known = ", ".join(e for e in self.config.entities) or "none (single-entity tenant)"
        raise KeyError(f"unknown entity {entity!r}; this tenant's entities: {known}")

    def tenant_for(self, header: str | None) -> Tenant | str:
        """The tenant a request addresses via Zuora-Entity-Ids, or the error message for a 400."""
        entities = self.config.entities
        if not header:
            if len(entities) > 1:
                return (f"This tenant has {len(entities)} entities; set the Zuora-Entity-Ids header to one of: "
                        f"{', '.join(entities)}.")
            return self.tenants[0]
        if not entities:
            return self.tenants[0]
        try:
            return self.tenant(header.split(",")[0].strip())
        except KeyError as e:
            return f"Zuora-Entity-Ids: {e.args[0]}"

    def truth(self, name: str, start: datetime, end: datetime, *, entity: str | None = None) -> pa.Table:
        """What a perfect export of model `name` for window [start, end) contains at the current sim clock.

        Live records whose UpdatedDate is in the window, plus tombstones (`_deleted` true, UpdatedDate = the
        deletion time) of records deleted in the window within the last 30 sim-days. Records changed under
        a visibility lag are included only once visible. Columns per `catalog.model(name).arrow_schema`,
        sorted by `id`.
        """
        return self.tenant(entity).truth(name, tz.to_ms(start), tz.to_ms(end), self.clock_ms())

    def fields(self, name: str, *, entity: str | None = None) -> tuple[Field, ...]:
        """The fields the tenant exports for a model now (catalog fields, custom fields, drift applied)."""
        return self.tenant(entity).store(name).fields

    def upsert(self, object: str, record: dict[str, Any], *, entity: str | None = None) -> dict[str, Any]:
        """Create (no or unknown `Id`) or update a record; UpdatedDate = the sim clock. Returns the record."""
        return self.tenant(entity).upsert(object, record, self.clock_ms(), self._lag_ms)

    def delete(self, object: str, id: str, *, entity: str | None = None) -> dict[str, Any]:
        """Soft-delete a record at the sim clock (exported as a tombstone for 30 sim-days)."""
        return self.tenant(entity).delete(object, id, self.clock_ms(), self._lag_ms)

    def silent_change(self, object: str, id: str, record: dict[str, Any], *, entity: str | None = None) -> dict[str, Any]:
        """Change silent fields (catalog `silent`, e.g. Account.Balance) without touching UpdatedDate, as Zuora does."""
        return self.tenant(entity).silent_change(object, id, record, self.clock_ms(), self._lag_ms)

    def recreate(self, object: str, id: str, record: dict[str, Any], *, entity: str | None = None) -> dict[str, Any]:
        """Bring a deleted record back live under its Id (UpdatedDate = the sim clock)."""
        return self.tenant(entity).recreate(object, id, record, self.clock_ms(), self._lag_ms)

    def add_burst(self, object: str, n: int, at: datetime | None = None, *,
                  entity: str | None = None) -> int:
        """Add `n` new records of `object` all with UpdatedDate in the second `at` (default: the sim clock)."""
        at_ms = tz.to_ms(at) if at is not None else self.clock_ms()
        return self.tenant(entity).burst(object, n, at_ms, self._lag_ms)

    def add_custom_field(self, object: str, name: str, type: str, *,
                         entity: str | None = None) -> Field:
        """Schema drift: a new custom field appears in describe and `select *` (null for existing records)."""
        return self.tenant(entity).add_field(object, name, type)

    def remove_field(self, object: str, name: str, *, entity: str | None = None) -> None:
        """Schema drift: a field disappears; queries selecting it fail with 90005 "no field named"."""
        self.tenant(entity).remove_field(object, name)

    # ----- faults, tokens, jobs -----

    def add_fault(self, rule: dict[str, Any]) -> None:
        """Add a fault rule (schema: `zuora_assets.sim.faults`); burst and schema_drift apply at once."""
        parsed = parse_rule(rule)
        if parsed.fault not in IMMEDIATE:
            self.faults.add(parsed)
            return
        p = parsed.params
        if parsed.fault == "burst":
            at = datetime.fromisoformat(str(p["at"]).replace("Z", "+00:00")) if p["at"] else None
            self.add_burst(str(p["object"]), int(p["n"]), at)
            return
        if p["add"]:
            self.add_custom_field(str(p["object"]), str(p["add"]["name"]), str(p["add"].get("type", "text")))
        if p["remove"]:
            self.remove_field(str(p["object"]), str(p["remove"]))

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_tokens(self) -> None:
        """Invalidate every bearer token now (the next call gets 401)."""
        self.tokens.expire_all()

    def max_jobs_in_flight(self) -> int:
        """The most AQuA jobs that were submitted or executing at the same time."""
        return self.aqua.max_in_flight

    def stats(self) -> dict[str, Any]:
        return {"now": tz.iso_z(self.clock_ms()), "jobs_in_flight": self.aqua.in_flight(self.clock_ms()),
                "max_jobs_in_flight": self.aqua.max_in_flight, "jobs": len(self.aqua.jobs),
                "files": len(self.aqua.files), "requests": len(self._log)}

    def reset(self) -> None:
        """Back to the generated data and the configured clock; no faults, jobs, files, tokens or log."""
        for t in self.tenants:
            t.reset()
        self.faults.clear()
        self.aqua.reset()
        self.actions.reset()
        self.exports.reset()
        self.tokens.expire_all()
        self.clear_requests()
        self._lag_ms = int(self.config.visibility_lag * 1000)
        self._clock.set(tz.from_ms(self.now_ms))

    # ----- request log -----

    def requests(self) -> list[dict[str, Any]]:
        """Every request so far (oldest first): method, path, query, headers, json, status, time, ..."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def log_request(self, req: Request, resp: Response) -> None:
        entry = {
            "method": req.method, "path": req.path, "query": req.query, "headers": _redacted_headers(req.headers),
            "json": _json_or_none(req), "form": _redacted_form(req), "status": resp.status,
            "time": tz.iso_z(self.clock_ms()), "track_id": req.header("Zuora-Track-Id"),
            "entity_ids": req.header("Zuora-Entity-Ids"), "job_id": req.notes.get("job_id"),
            "jobs_in_flight": self.aqua.in_flight(),  # as last advanced (a log line must not run a job)
        }
        with self._log_lock:
            self._log.append(entry)


def _redacted_headers(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        out["authorization"] = out["authorization"].split(" ")[0] + " " + REDACTED
    return out


def _json_or_none(req: Request) -> Any:
    if "json" not in (req.header("Content-Type") or ""):
        return None
    try:
        return req.json()
    except ValueError:
        return None


def _redacted_form(req: Request) -> dict[str, str] | None:
    if "form-urlencoded" not in (req.header("Content-Type") or ""):
        return None
    form = req.form()
    return {k: REDACTED if "secret" in k else v for k, v in form.items()}
