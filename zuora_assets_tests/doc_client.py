"""A Zuora client written from Zuora's documentation alone, to hold the simulator to it.

It shares no code with `zuora_assets.zuora` (the project's client) or `zuora_assets.sim`: plain `requests`,
`csv` and `xml.etree`, and the request shapes of developer.zuora.com:
- `POST /oauth/token` (createToken): form fields client_id, client_secret, grant_type=client_credentials.
- `GET /v1/describe`, `GET /v1/describe/{object}` (GET_Describe): XML; fields with <contexts>; joined objects
  read from <related-objects> of the plain describe, as tap-zuora's discovery does.
- AQuA (POST_BatchQueryJob, GET_BatchQueryJob, GET_Files): `{"format": "csv", "version": ..., "queries":
  [...]}`; poll until the job leaves submitted/executing; files from `segments` or `fileId`; stateful with
  partner and project; deleted records with `{"column", "format"}` (stateless adds `forceExport`).
- the query action (Action_POSTquery, Action_POSTqueryMore): `queryString`, then `queryLocator` until `done`.
- data source exports (Object_POSTExport, Object_GETExport): `Query`, `Format`; poll `Status`; file by `FileId`.
Time is injected: `sleep` is what waiting means (a test passes time on a simulator's clock with it).
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

RUNNING = ("submitted", "executing", "pending")
EXPORT_RUNNING = ("Pending", "Processing")


class DocClientError(Exception):
    """Zuora answered something the documentation does not lead a client to expect."""


@dataclass
class Export:
    """One query's result: the CSV header, its rows, the batch (or export) that made it, and the raw text."""

    header: list[str]
    rows: list[list[str]]
    meta: dict[str, Any]
    text: str = ""


@dataclass
class DocClient:
    base_url: str
    client_id: str
    client_secret: str
    sleep: Callable[[float], None]
    poll_seconds: float = 5.0
    max_polls: int = 10_000
    session: requests.Session = field(default_factory=requests.Session)
    token: str | None = None
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status) of every call

    # -- HTTP ------------------------------------------------------------------------------------

    def authenticate(self) -> dict[str, Any]:
        resp = self.session.post(f"{self.base_url}/oauth/token", timeout=30, data={
            "client_id": self.client_id, "client_secret": self.client_secret, "grant_type": "client_credentials"})
        self.log.append(("POST", "/oauth/token", resp.status_code))
        if resp.status_code != 200:
            raise DocClientError(f"token: HTTP {resp.status_code} {resp.text[:200]}")
        body = resp.json()
        self.token = body["access_token"]
        return body

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        if self.token is None:
            self.authenticate()
        resp = self.session.request(method, f"{self.base_url}{path}", timeout=60,
                                    headers={"Authorization": f"Bearer {self.token}"}, **kw)
        self.log.append((method, path, resp.status_code))
        return resp

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        resp = self.call(method, path, **kw)
        if resp.status_code != 200:
            raise DocClientError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    # -- describe --------------------------------------------------------------------------------

    def objects(self) -> list[str]:
        root = ET.fromstring(self.call("GET", "/v1/describe").text)
        return [o.findtext("name") for o in root.findall("./object")]

    def describe(self, obj: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """(fields by name: their elements and contexts, related object names) from a plain describe."""
        root = ET.fromstring(self.call("GET", f"/v1/describe/{obj}").text)
        fields = {}
        for el in root.find("fields"):
            info: dict[str, Any] = {child.tag: (child.text or "") for child in el if child.tag not in ("contexts",
                                                                                                   "options")}
            info["contexts"] = [c.text for c in el.find("contexts")]
            if el.find("options") is not None:
                info["options"] = [o.text for o in el.find("options")]
            fields[info["name"]] = info
        related = [o.find("name").text for o in root.find("related-objects")]  # tap-zuora reads it unasked
        return fields, related

    def exportable(self, obj: str) -> list[str]:
        fields, _ = self.describe(obj)
        return [name for name, f in fields.items() if "export" in f["contexts"]]

    # -- AQuA ------------------------------------------------------------------------------------

    def aqua(self, queries: list[dict[str, Any]], **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Submit a job and poll it to its end: (submit answer, every poll answer)."""
        body = {"format": "csv", "version": "1.1", "name": "doc-client", "encrypted": "none",
                "useQueryLabels": "true", "dateTimeUtc": "true", "queries": queries, **options}
        submitted = self._json("POST", "/v1/batch-query/", json=body)
        if "id" not in submitted:
            raise DocClientError(f"AQuA refused the job: {submitted}")
        polls = []
        for _ in range(self.max_polls):
            self.sleep(self.poll_seconds)
            job = self._json("GET", f"/v1/batch-query/jobs/{submitted['id']}")
            polls.append(job)
            if job["status"] not in RUNNING:
                return submitted, polls
        raise DocClientError(f"AQuA job {submitted['id']} still {polls[-1]['status']} after {self.max_polls} polls")

    def aqua_files(self, job: dict[str, Any]) -> dict[str, Export]:
        """Every completed query's result, by query name (segments or the file id)."""
        out = {}
        for batch in job["batches"]:
            if batch["status"] != "completed":
                raise DocClientError(f"query {batch['name']} ended {batch['status']}: {batch.get('message')}")
            texts = [self.download(f) for f in batch.get("segments") or [batch["fileId"]]]
            parsed = [parse_csv(text) for text in texts]
            if any(header != parsed[0][0] for header, _ in parsed):
                raise DocClientError(f"the segments of query {batch['name']} have different headers")
            out[batch["name"]] = Export(parsed[0][0], [r for _, rows in parsed for r in rows], batch, "".join(texts))
        return out

    def download(self, file_id: str) -> str:
        resp = self.call("GET", f"/v1/files/{file_id}")
        if resp.status_code != 200:
            raise DocClientError(f"file {file_id}: HTTP {resp.status_code} {resp.text[:200]}")
        return resp.content.decode("utf-8")

    def stateless(self, query: str, deleted: str | None = "IsDeleted", version: str = "1.0") -> Export:
        spec: dict[str, Any] = {"name": "q", "query": query, "type": "zoqlexport"}
        if deleted:
            spec["deleted"] = {"column": deleted, "format": "Boolean", "forceExport": True}
        _, polls = self.aqua([spec], version=version)
        return self.aqua_files(polls[-1])["q"]

    def stateful(self, query: str, partner: str, project: str, version: str, deleted: str | None = "Deleted",
                 **options: Any) -> Export:
        spec: dict[str, Any] = {"name": project, "query": query, "type": "zoqlexport"}
        if deleted:
            spec["deleted"] = {"column": deleted, "format": "Boolean"}
        _, polls = self.aqua([spec], version=version, partner=partner, project=project, **options)
        return self.aqua_files(polls[-1])[project]

    # -- the query action ------------------------------------------------------------------------------

    def query_all(self, zoql: str, batch_size: int = 2000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every record of a ZOQL query: (records, every page answer)."""
        page = self._json("POST", "/v1/action/query", json={"queryString": zoql, "conf": {"batchSize": batch_size}})
        pages = [page]
        while not page["done"]:
            page = self._json("POST", "/v1/action/queryMore",
                              json={"queryLocator": page["queryLocator"], "conf": {"batchSize": batch_size}})
            pages.append(page)
        return [r for p in pages for r in p["records"]], pages

    # -- data source exports ------------------------------------------------------------------------------

    def export(self, query: str) -> tuple[Export, list[dict[str, Any]]]:
        created = self._json("POST", "/v1/object/export", json={"Query": query, "Format": "csv", "Zip": False,
                                                                "Name": "doc-client"})
        if not created.get("Success"):
            raise DocClientError(f"export refused: {created}")
        polls = []
        for _ in range(self.max_polls):
            self.sleep(self.poll_seconds)
            status = self._json("GET", f"/v1/object/export/{created['Id']}")
            polls.append(status)
            if status["Status"] not in EXPORT_RUNNING:
                break
        if polls[-1]["Status"] != "Completed":
            raise DocClientError(f"export {created['Id']} ended {polls[-1]['Status']}: {polls[-1].get('StatusReason')}")
        text = self.download(polls[-1]["FileId"])
        header, rows = parse_csv(text)
        return Export(header, rows, polls[-1], text), polls


def parse_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """RFC 4180 CSV (quoted fields may hold commas, quotes and line breaks): (header, rows)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise DocClientError("an empty result file has no header")
    return rows[0], rows[1:]
