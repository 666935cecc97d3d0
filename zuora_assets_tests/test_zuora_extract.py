"""Extraction end to end against the simulator over real HTTP: every model equals the truth, and faults.

Each fault test checks survival and that the final data equals `sim.truth()` for the window.
Sleeps are recorded by a fake `sleep` that moves the sim clock instead, so backoff, polling and minutes-long
jobs cost no wall time.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from zuora_assets.common.failures import is_permanent
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets.sim.config import JobTiming
from zuora_assets.zuora.aqua import AquaJobs
from zuora_assets.zuora.catalog import MODELS, model
from zuora_assets.zuora.client import ZuoraClient, ZuoraDataError, ZuoraTransientError
from zuora_assets.zuora.errors import ZuoraCutFileError
from zuora_assets.zuora.extract import Extraction, Extractor
from zuora_assets.zuora.zoql import ExportQuery, Window, select

NOW = datetime(2026, 11, 20, tzinfo=UTC)
START = NOW - timedelta(days=3)
CONFIG = dict(seed=7, accounts=40, days=30, now=NOW, clock_follows_wall=False, token_expires_in=3599,
              polls_to_complete=1, max_concurrent_jobs=50, custom_fields={"Account": [("Region__c", "text")]})


@pytest.fixture(scope="module")
def shared_sim():
    with Simulator(SimConfig(**CONFIG)) as sim:
        yield sim


@pytest.fixture
def sim(shared_sim):
    """The module's simulator, reset to its generated state (no faults, drift, bursts or log)."""
    shared_sim.reset()
    yield shared_sim
    shared_sim.reset()


class Harness:
    """A client and extractor for a simulator; the client's sleeps are recorded and pass on the sim's clock."""

    def __init__(self, sim: Simulator, **extractor_kw):
        self.sim = sim
        self.sleeps: list[float] = []
        self.client = ZuoraClient(sim.config.client_id, sim.config.client_secret, base_url=sim.base_url,
                                  sleep=self.sleep, max_attempts=6)
        self.extractor = Extractor(self.client, poll_initial=0.0, **extractor_kw)

    def sleep(self, seconds: float) -> None:
        """Time passes for Zuora while the client waits (the test never waits for real)."""
        self.sleeps.append(seconds)
        self.sim.advance(seconds)

    def table(self, extraction: Extraction) -> pa.Table:
        batches = list(extraction.batches)
        assert all(b.schema == extraction.schema for b in batches)
        _assert_updated_date_order(batches)
        return pa.Table.from_batches(batches, extraction.schema).sort_by("id")

    def extract(self, name: str, start: datetime = START, end: datetime = NOW) -> pa.Table:
        return self.table(self.extractor.extract(model(name), start, end))

    def requests(self, method: str, pattern: str) -> list[dict]:
        return [r for r in self.sim.requests() if r["method"] == method and pattern in r["path"]]


def _assert_updated_date_order(batches: list[pa.RecordBatch]) -> None:
    if batches:
        column = pa.chunked_array([b.column("updated_date") for b in batches]).combine_chunks()
        assert not pc.any(pc.less(column[1:], column[:-1])).as_py(), "batches are not in updated_date order"


def assert_truth(sim: Simulator, name: str, got: pa.Table, start: datetime = START, end: datetime = NOW) -> None:
    truth = sim.truth(name, start, end)
    if got.schema != truth.schema:
        truth = truth.select(got.schema.names) if set(got.schema.names) <= set(truth.schema.names) else truth
    assert got.schema == truth.schema
    assert got.num_rows == truth.num_rows, f"{name}: {got.num_rows} rows, truth has {truth.num_rows}"
    for column in truth.column_names:
        assert got.column(column).equals(truth.column(column)), f"{name}: column {column} differs from truth"


# -- every model --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_models(shared_sim):
    shared_sim.reset()
    h = Harness(shared_sim)
    extractions = h.extractor.extract_many(list(MODELS.values()), START, NOW)
    tables = {name: h.table(e) for name, e in extractions.items()}
    submits = len(h.requests("POST", "/v1/batch-query"))
    return tables, submits, {name: e.row_count for name, e in extractions.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_equals_truth(shared_sim, all_models, name):
    tables, _, row_counts = all_models
    assert_truth(shared_sim, name, tables[name])
    assert row_counts[name] == tables[name].num_rows


def test_all_models_in_one_job_with_rows_and_tombstones(all_models):
    tables, submits, _ = all_models
    assert submits == 1
    assert sum(t.num_rows for t in tables.values()) > 300
    assert sum(pc.sum(t.column("_deleted")).as_py() or 0 for t in tables.values()) > 0
    assert "region__c" in tables["account"].column_names


# -- HTTP faults --------------------------------------------------------------------------------------


def test_429_storm_honours_retry_after_with_bounded_attempts(sim):
    sim.add_fault({"fault": "http_429", "path": "^/v1/batch-query/jobs/", "times": 4, "retry_after": 9})
    h = Harness(sim)
    assert_truth(sim, "invoice", h.extract("invoice"))
    assert sum(1 for s in h.sleeps if s >= 9) == 4

    sim.add_fault({"fault": "http_429", "path": "^/v1/describe/Payment$", "times": None, "retry_after": 2})
    with pytest.raises(ZuoraTransientError, match="GET /v1/describe/Payment: gave up after 6 attempts"):
        Harness(sim).extract("payment")
    assert len(h.requests("GET", "/v1/describe/Payment")) == 6


@pytest.mark.parametrize(
    "rules",
    [
        [{"fault": "http_5xx", "method": "POST", "path": "^/v1/batch-query/$", "times": 2, "status": 500}],
        [{"fault": "http_5xx", "path": "^/v1/batch-query/jobs/", "times": 2, "status": 502, "body": "empty"}],
        [{"fault": "http_5xx", "path": "^/v1/files/", "times": 2, "status": 503}],
        [{"fault": "200_false", "path": "^/v1/batch-query/jobs/", "times": 2}],
    ],
    ids=["submit", "poll", "download", "200-false-poll"],
)
def test_5xx_on_submit_poll_and_download(sim, rules, caplog):
    for rule in rules:
        sim.add_fault(rule)
    h = Harness(sim)
    assert_truth(sim, "invoice_item", h.extract("invoice_item"))
    assert [rule["fired"] for rule in sim.faults.list()] == [2]
    assert [r.getMessage().split("; ")[-1][:13] for r in caplog.records if "; retry" in r.getMessage()] == [
        "retry 2 of 6 ", "retry 3 of 6 "]


def test_cut_download_is_retried_from_scratch(sim):
    sim.add_fault({"fault": "cut_download", "after_bytes": 700, "times": 2})
    h = Harness(sim)
    assert_truth(sim, "invoice_item", h.extract("invoice_item"))
    assert len(h.requests("GET", "/v1/files/")) == 3


def test_a_truncated_json_answer_is_retried_and_the_data_is_exact(sim):
    sim.add_fault({"fault": "truncated_body", "path": "^/v1/batch-query/jobs/", "after_bytes": 40, "times": 2})
    h = Harness(sim)
    assert_truth(sim, "contact", h.extract("contact"))
    assert [rule["fired"] for rule in sim.faults.list()] == [2], "two answers were cut, and retried"


def test_a_json_answer_that_stays_truncated_is_a_transient_failure(sim):
    sim.add_fault({"fault": "truncated_body", "path": "^/v1/batch-query/jobs/", "times": None})
    h = Harness(sim)
    with pytest.raises(ZuoraTransientError, match=r"gave up after 6 attempts.*JSON body that does not parse") as caught:
        h.extract("contact")
    assert not is_permanent(caught.value), "the step's retry policy gets another try"


def test_a_file_cut_short_behind_a_whole_looking_answer_is_transient(sim):
    """A proxy cut the file and declared only the bytes it sent: the CSV ends mid-row (Arrow cannot parse it)."""
    sim.add_fault({"fault": "cut_download", "after_bytes": 4000, "content_length": "cut", "times": None})
    h = Harness(sim)
    extraction = h.extractor.extract(model("invoice_item"), START, NOW)
    with pytest.raises(ZuoraCutFileError, match=r"model invoice_item.*ends in the middle of a row") as caught:
        list(extraction.batches)
    assert not is_permanent(caught.value), "downloading the file again (the step's retry) fixes it"


def test_result_file_gone_reruns_the_query(sim):
    sim.add_fault({"fault": "file_gone", "times": 1})
    h = Harness(sim)
    assert_truth(sim, "contact", h.extract("contact"))
    assert len(h.requests("POST", "/v1/batch-query")) == 2
    assert [r["status"] for r in h.requests("GET", "/v1/files/")] == [404, 200]


def test_token_expiry_during_polling():
    with Simulator(SimConfig(**{**CONFIG, "polls_to_complete": 3, "accounts": 10})) as sim:
        sim.add_fault({"fault": "token_expire", "path": "^/v1/batch-query/jobs/", "after_n_calls": 1})
        h = Harness(sim)
        assert_truth(sim, "account", h.extract("account"))
        assert len(h.requests("POST", "/oauth/token")) == 2
        assert [r["status"] for r in h.requests("GET", "/v1/batch-query/jobs/")].count(401) == 1


# -- job faults ---------------------------------------------------------------------------------------


def test_transient_job_failure_is_resubmitted(sim):
    sim.add_fault({"fault": "job_fail_transient", "times": 2})
    h = Harness(sim)
    assert_truth(sim, "payment", h.extract("payment"))
    assert len(h.requests("POST", "/v1/batch-query")) == 3


def test_job_timeout_splits_the_window(sim):
    sim.add_fault({"fault": "job_timeout", "code": 90027, "times": 1})
    h = Harness(sim)
    assert_truth(sim, "invoice", h.extract("invoice"))
    assert len(h.requests("POST", "/v1/batch-query")) == 3


def test_job_without_progress_for_the_timeout_is_cancelled_and_the_window_split(sim, caplog):
    sim.add_fault({"fault": "slow_job", "polls": 100_000, "times": 1})
    h = Harness(sim)
    h.extractor = Extractor(h.client, poll_initial=1.0)
    with caplog.at_level(logging.INFO):
        assert_truth(sim, "invoice", h.extract("invoice"))
    assert len(h.requests("DELETE", "/v1/batch-query/jobs/")) == 1
    assert len(h.requests("POST", "/v1/batch-query")) == 3
    polls = len([r for r in h.requests("GET", "/v1/batch-query/jobs/") if r["job_id"] == h.requests(
        "DELETE", "/v1/batch-query/jobs/")[0]["job_id"]])
    assert 3.5 * 3600 / 30 <= polls <= 3.5 * 3600 / 30 + 20  # polls every 30 s once backed off: bounded
    assert "made no progress for 12600 s" in caplog.text


def test_a_timeout_below_zuoras_three_hours_per_query_is_refused(sim):
    with pytest.raises(ValueError, match="3 hours"):
        Extractor(Harness(sim).client, job_timeout=3600)


def test_hours_long_jobs_are_waited_for_with_bounded_polls_and_logged(caplog):
    """A query of 2.9 hours (Zuora kills at 3): the client waits, polls a few hundred times, logs each state."""
    timing = JobTiming(queue_seconds=30, query_seconds=2.9 * 3600)
    with Simulator(SimConfig(**{**CONFIG, "accounts": 10, "job_timing": timing})) as slow:
        h = Harness(slow)
        h.extractor = Extractor(h.client, poll_initial=1.0)
        with caplog.at_level(logging.INFO):
            assert_truth(slow, "account", h.extract("account"))
        polls = h.requests("GET", "/v1/batch-query/jobs/")
        assert len(h.requests("POST", "/v1/batch-query")) == 1 and not h.requests("DELETE", "/v1/batch-query/")
        assert len(polls) <= (30 + 2.9 * 3600) / 30 + 15
        states = [m for m in caplog.messages if m.startswith("AQuA job")]
        assert [s.split()[3] for s in states[:1]] == ["submitted"]
        assert any(" executing after " in s for s in states) and " completed after 2 h 54 min" in states[-1]
        assert any(s.split()[3:5] == ["still", "executing"] for s in states)  # a heartbeat while it ran


def test_too_large_file_bisects_the_window(sim):
    rows = sim.truth("invoice_item", START, NOW).num_rows
    sim.add_fault({"fault": "too_large", "rows": rows // 3})
    h = Harness(sim)
    got = h.extract("invoice_item")
    assert_truth(sim, "invoice_item", got)
    assert len(h.requests("POST", "/v1/batch-query")) >= 5
    assert any(r["status"] == 403 for r in h.requests("GET", "/v1/files/"))


BURST_AT = NOW - timedelta(hours=5, seconds=17)
BURST_ROWS, FILE_ROWS, PAGE_ROWS = 1_000_000, 300_000, 400_000


@pytest.mark.slow  # a million rows, benchmark-sized
def test_million_row_burst_in_one_second_is_bisected_then_paged_by_id(sim):
    """Issue 3: a bill run updates 1M invoice items in one second and files over 300k rows are refused.

    The client halves the 4-hour window down to the burst second, then reads it in pages by Id; its
    first page (400k) is refused too, so it halves the page size. The result equals the truth.
    """
    sim.add_burst("InvoiceItem", BURST_ROWS, BURST_AT)
    sim.add_fault({"fault": "too_large", "rows": FILE_ROWS, "query": "InvoiceItem"})
    start, end = NOW - timedelta(hours=8), NOW - timedelta(hours=4)
    h = Harness(sim, page_size=PAGE_ROWS)
    assert_truth(sim, "invoice_item", h.extract("invoice_item", start, end), start, end)
    queries = [r["json"]["queries"][0]["query"] for r in h.requests("POST", "/v1/batch-query")]
    windows = [_window_of(q) for q in queries if " limit " not in q]
    around_burst = [w for w in windows if w[0] <= BURST_AT < w[1]]
    sizes = [(b - a).total_seconds() for a, b in around_burst]
    assert sizes[0] == 4 * 3600 and sizes[-1] == 1  # the whole window, halved down to the burst second:
    assert all(half in (size // 2, size - size // 2) for size, half in zip(sizes, sizes[1:], strict=False))
    pages = [q for q in queries if " limit " in q]
    assert all(_window_of(q) == around_burst[-1] and " order by Id " in q for q in pages)
    in_second = sim.truth("invoice_item", *around_burst[-1]).num_rows
    full_pages = in_second // (PAGE_ROWS // 2)
    assert [q.rsplit(" ", 1)[-1] for q in pages] == [str(PAGE_ROWS)] + [str(PAGE_ROWS // 2)] * (full_pages + 1)
    refused = [r["status"] for r in h.requests("GET", "/v1/files/")].count(403)
    assert refused == len(around_burst) + 1  # every window holding the burst, and the 400k page


def _window_of(query: str) -> tuple[datetime, datetime]:
    """The [start, end) of UpdatedDate a window query reads."""
    start, end = re.findall(r"UpdatedDate [<>]=? '([^']+)'", query)
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


# -- schema drift -------------------------------------------------------------------------------------


def test_custom_field_added_mid_run(sim):
    h = Harness(sim)
    before = h.extract("account")
    sim.add_custom_field("Account", "Tier__c", "text")
    sim.upsert("Account", {"Id": before.column("id")[0].as_py(), "Tier__c": "gold"})
    end = sim.clock() + timedelta(seconds=1)  # the first run's waits moved the clock
    same_run = h.extract("account", START, end)
    assert "tier__c" not in same_run.column_names
    assert_truth(sim, "account", same_run, START, end)
    next_run = Harness(sim).extract("account", START, end)
    assert next_run.column_names[-2:] == ["tier__c", "_deleted"]
    assert "gold" in next_run.column("tier__c").to_pylist()
    assert_truth(sim, "account", next_run, START, end)


def test_removed_field_is_dropped_remembered_and_the_transfer_goes_on(sim, caplog):
    h = Harness(sim)
    h.extractor.extract(model("account"), START, NOW)  # describe now cached with Region__c and Notes
    sim.remove_field("Account", "Notes")
    extraction = h.extractor.extract(model("account"), START, NOW)
    assert extraction.dropped_fields == ["Notes"]
    assert "notes" not in extraction.schema.names
    assert_truth(sim, "account", h.table(extraction))
    assert "model account: field Notes dropped" in caplog.text
    again = h.extractor.extract(model("account"), START, NOW)
    assert "Notes" in again.dropped_fields
    rejected = [r for r in h.requests("POST", "/v1/batch-query") if "Notes" in r["json"]["queries"][0]["query"]]
    assert len(rejected) == 2  # the first extraction and the one rejected submit; never again


# -- data faults --------------------------------------------------------------------------------------


def test_malformed_csv_row_names_model_window_and_line(sim):
    sim.add_fault({"fault": "malformed_csv", "line": 3})
    h = Harness(sim)
    extraction = h.extractor.extract(model("invoice"), START, NOW)
    with pytest.raises(ZuoraDataError) as err:
        list(extraction.batches)
    message = str(err.value)
    assert "model invoice" in message and "2026-11-17T00:00:00Z, 2026-11-20T00:00:00Z" in message
    assert "CSV line" in message and "rerun" in message
    assert is_permanent(err.value), "a broken file from Zuora is not fixed by downloading it again"


def _midnight_pacific_model(sim: Simulator) -> tuple[str, str]:
    """A (model, datetime column) whose truth in the window has values at midnight America/Los_Angeles."""
    for name, m in MODELS.items():
        truth = sim.truth(name, START, NOW)
        for f in m.fields:
            if f.type != "datetime" or truth.num_rows == 0:
                continue
            local = pc.local_timestamp(pc.assume_timezone(truth.column(f.column), "UTC").cast(
                pa.timestamp("ms", tz="America/Los_Angeles")))
            if pc.any(pc.equal(pc.cast(local, pa.time32("ms")), pa.scalar(0, pa.time32("ms")))).as_py():
                return name, f.name
    raise AssertionError("the simulated tenant has no midnight-Pacific datetimes in the window")


def test_date_only_midnight_pacific_values(sim, tmp_path):
    name, field_name = _midnight_pacific_model(sim)
    m = model(name)
    h = Harness(sim)
    query = ExportQuery(name, m, ("Id", field_name), select(m, ["Id", field_name], Window.of(START, NOW)), False)
    result = AquaJobs(h.client, poll_initial=0.0).run([query])[name]
    h.client.download(f"/v1/files/{result.file_ids[0]}", tmp_path / "raw.csv")
    raw = [line.split(",")[1] for line in (tmp_path / "raw.csv").read_text().splitlines()[1:]]
    assert any(len(v) == 10 for v in raw), "the raw file has no date-only datetime"
    assert_truth(sim, name, h.extract(name))


# -- concurrency --------------------------------------------------------------------------------------


def test_client_never_exceeds_its_job_cap():
    with Simulator(SimConfig(**{**CONFIG, "accounts": 10, "polls_to_complete": 3})) as sim:
        h = Harness(sim, max_jobs_in_flight=2)
        names = ["account", "invoice", "payment", "usage", "refund", "contact"]
        tables: dict[str, pa.Table] = {}

        def work(name: str) -> None:
            tables[name] = h.extract(name)

        threads = [threading.Thread(target=work, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in names:
            assert_truth(sim, name, tables[name])
        log = sim.requests()
        assert len([r for r in log if r["method"] == "POST" and r["path"].startswith("/v1/batch-query")]) == 6
        assert max(r["jobs_in_flight"] for r in log) == sim.max_jobs_in_flight() == 2


def test_entity_header_selects_the_entity():
    entities = ("8a8082c4-0000-4000-8000-00000000000a", "8a8082c4-0000-4000-8000-00000000000b")
    with Simulator(SimConfig(**{**CONFIG, "accounts": 8, "entities": entities})) as sim:
        client = ZuoraClient(sim.config.client_id, sim.config.client_secret, base_url=sim.base_url,
                             entity_id=entities[1], sleep=sim.advance)
        extraction = Extractor(client, poll_initial=0.0).extract(model("account"), START, NOW)
        got = pa.Table.from_batches(list(extraction.batches), extraction.schema).sort_by("id")
        truth = sim.truth("account", START, NOW, entity=entities[1])
        assert got.equals(truth) and not got.equals(sim.truth("account", START, NOW, entity=entities[0]))
        assert {r["entity_ids"] for r in sim.requests()} == {entities[1]}
        track_ids = [r["track_id"] for r in sim.requests()]
        assert len(set(track_ids)) == len(track_ids) and all(t.startswith("zuora-athena-") for t in track_ids)


def test_extract_many_chunks_jobs_and_respects_the_cap():
    with Simulator(SimConfig(**{**CONFIG, "accounts": 10, "polls_to_complete": 2})) as sim:
        h = Harness(sim, max_jobs_in_flight=3, queries_per_job=4)
        extractions = h.extractor.extract_many(list(MODELS.values()), START, NOW)
        for name, extraction in extractions.items():
            assert_truth(sim, name, h.table(extraction))
        submits = [r for r in sim.requests() if r["method"] == "POST" and r["path"].startswith("/v1/batch-query")]
        assert len(submits) == 7 and all(len(r["json"]["queries"]) == 4 for r in submits)
        assert sim.max_jobs_in_flight() <= 3


def test_download_threads_end_whether_the_batches_are_read_to_the_end_or_abandoned(sim):
    h = Harness(sim)
    assert_truth(sim, "invoice_item", h.extract("invoice_item"))
    assert not _download_threads()
    sim.add_burst("InvoiceItem", 20_000, at=NOW - timedelta(hours=1))
    batches = h.extractor.extract(model("invoice_item"), START, NOW).batches
    next(batches)
    batches.close()
    assert not _download_threads()


def _download_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("download /v1/files/") and t.is_alive()]
