"""The simulator's control plane, `/__sim/*`: records, clock, faults, request log, reset, lag, fields, bursts,
silent changes (`POST /__sim/silent/<Object>/<Id>`: silent fields such as Balance change, UpdatedDate stays) and
re-created records (`POST /__sim/recreate/<Object>/<Id>`: a deleted Id is live again).

Not part of Zuora. Errors are 400 `{"error": "..."}`; unknown paths 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from zuora_assets.sim import tz
from zuora_assets.sim.server import Request, Response

if TYPE_CHECKING:
    from zuora_assets.sim.simulator import Simulator


class ControlError(ValueError):
    """A bad /__sim request."""


class ControlPlane:
    """`/__sim/*`: records, clock, faults, request log, reset, visibility lag, fields, bursts, stats."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        r = re.compile
        self.routes: list[tuple[str, re.Pattern, Callable[..., Any]]] = [
            ("POST", r(r"^/__sim/records/(?P<obj>[^/]+)$"), self.upsert),
            ("DELETE", r(r"^/__sim/records/(?P<obj>[^/]+)/(?P<rid>[^/]+)$"), self.delete),
            ("POST", r(r"^/__sim/silent/(?P<obj>[^/]+)/(?P<rid>[^/]+)$"), self.silent_change),
            ("POST", r(r"^/__sim/recreate/(?P<obj>[^/]+)/(?P<rid>[^/]+)$"), self.recreate),
            ("GET", r(r"^/__sim/clock$"), self.clock),
            ("POST", r(r"^/__sim/clock$"), self.set_clock),
            ("GET", r(r"^/__sim/faults$"), lambda req: {"rules": self.sim.faults.list()}),
            ("POST", r(r"^/__sim/faults$"), self.add_faults),
            ("DELETE", r(r"^/__sim/faults$"), lambda req: self.sim.clear_faults() or {"rules": []}),
            ("GET", r(r"^/__sim/requests$"), lambda req: {"requests": self.sim.requests()}),
            ("DELETE", r(r"^/__sim/requests$"), lambda req: self.sim.clear_requests() or {"requests": []}),
            ("POST", r(r"^/__sim/reset$"), lambda req: self.sim.reset() or {"reset": True}),
            ("POST", r(r"^/__sim/visibility_lag$"), self.visibility_lag),
            ("POST", r(r"^/__sim/fields/(?P<obj>[^/]+)$"), self.add_field),
            ("DELETE", r(r"^/__sim/fields/(?P<obj>[^/]+)/(?P<name>[^/]+)$"), self.remove_field),
            ("POST", r(r"^/__sim/burst$"), self.burst),
            ("GET", r(r"^/__sim/stats$"), lambda req: self.sim.stats()),
        ]

    def dispatch(self, req: Request) -> Response:
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m and method == req.method:
                try:
                    return Response.json(200, handler(req, **m.groupdict()))
                except (ControlError, ValueError, KeyError) as e:
                    return Response.json(400, {"error": str(e.args[0]) if e.args else str(e)})
        return Response.json(404, {"error": f"no control endpoint {req.method} {req.path}"})

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        try:
            body = req.json()
        except ValueError as e:
            raise ControlError(f"{req.path}: the body must be JSON ({e})") from e
        if not isinstance(body, dict):
            raise ControlError(f"{req.path}: the body must be a JSON object")
        return body

    @staticmethod
    def _entity(req: Request) -> str | None:
        return req.query.get("entity", [None])[-1] or req.header("Zuora-Entity-Ids")

    def upsert(self, req: Request, obj: str) -> dict[str, Any]:
        return self.sim.upsert(obj, self._body(req), entity=self._entity(req))

    def delete(self, req: Request, obj: str, rid: str) -> dict[str, Any]:
        return self.sim.delete(obj, rid, entity=self._entity(req))

    def silent_change(self, req: Request, obj: str, rid: str) -> dict[str, Any]:
        return self.sim.silent_change(obj, rid, self._body(req), entity=self._entity(req))

    def recreate(self, req: Request, obj: str, rid: str) -> dict[str, Any]:
        return self.sim.recreate(obj, rid, self._body(req), entity=self._entity(req))

    def clock(self, req: Request) -> dict[str, Any]:
        return {"now": tz.iso_z(self.sim.clock_ms())}

    def set_clock(self, req: Request) -> dict[str, Any]:
        body = self._body(req)
        if "now" in body:
            self.sim.set_clock(datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00")))
        elif "advance_s" in body:
            self.sim.advance(float(body["advance_s"]))
        else:
            raise ControlError('POST /__sim/clock takes {"now": "<ISO datetime>"} or {"advance_s": <seconds>}')
        return self.clock(req)

    def add_faults(self, req: Request) -> dict[str, Any]:
        body = req.json()
        for rule in body if isinstance(body, list) else [body]:
            self.sim.add_fault(rule)
        return {"rules": self.sim.faults.list()}

    def visibility_lag(self, req: Request) -> dict[str, Any]:
        seconds = self._body(req).get("seconds")
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ControlError('POST /__sim/visibility_lag takes {"seconds": <number >= 0>}')
        self.sim.set_visibility_lag(seconds)
        return {"seconds": seconds}

    def add_field(self, req: Request, obj: str) -> dict[str, Any]:
        body = self._body(req)
        f = self.sim.add_custom_field(obj, str(body.get("name")), str(body.get("type", "text")),
                                      entity=self._entity(req))
        return {"object": obj, "name": f.name, "type": f.type}

    def remove_field(self, req: Request, obj: str, name: str) -> dict[str, Any]:
        self.sim.remove_field(obj, name, entity=self._entity(req))
        return {"object": obj, "removed": name}

    def burst(self, req: Request) -> dict[str, Any]:
        body = self._body(req)
        at = datetime.fromisoformat(str(body["at"]).replace("Z", "+00:00")) if body.get("at") else None
        n = self.sim.add_burst(str(body.get("object")), int(body.get("n", 0)), at, entity=self._entity(req))
        return {"object": body.get("object"), "n": n}
