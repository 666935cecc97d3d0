"""The HTTP layer against a scripted server on 127.0.0.1: tokens, retries, headers, downloads, secrets."""

from __future__ import annotations

import logging
import socket

import pytest

from zuora_assets.zuora.client import (
    DOWNLOAD_CHUNK,
    ZuoraAuthError,
    ZuoraClient,
    ZuoraFileTooLargeError,
    ZuoraPermissionError,
    ZuoraRequestError,
    ZuoraTransientError,
)
from zuora_assets_tests.zuora_stub import Reply, StubServer

SECRET = "s3cr3t-value-never-shown"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


def _client(stub: StubServer, sleeps: list[float] | None = None, **kw) -> ZuoraClient:
    recorded = sleeps if sleeps is not None else []
    return ZuoraClient("my-client", SECRET, base_url=stub.base_url, sleep=recorded.append, **kw)


def _bearer(recorded) -> str:
    return recorded.headers["Authorization"]


def test_token_cached_and_renewed_300_s_before_expiry(stub):
    stub.script("GET", "/v1/x", Reply(200, {"ok": 1}))
    clock = FakeClock()
    client = _client(stub, clock=clock)
    client.get("/v1/x")
    clock.now += 3599 - 301
    client.get("/v1/x")
    clock.now += 2
    client.get("/v1/x")
    assert [_bearer(r) for r in stub.calls("GET", "/v1/x")] == ["Bearer tok1", "Bearer tok1", "Bearer tok2"]
    form = stub.calls("POST", "/oauth/token")[0].body.decode()
    assert "grant_type=client_credentials" in form and "client_id=my-client" in form


def test_401_renews_the_token_once_per_request(stub):
    stub.script(
        "GET", "/v1/x", Reply(401, {"reasons": [{"code": 90000011, "message": "expired"}]}), Reply(200, {})
    )
    client = _client(stub)
    client.get("/v1/x")
    assert [_bearer(r) for r in stub.calls("GET", "/v1/x")] == ["Bearer tok1", "Bearer tok2"]
    stub.script("GET", "/v1/y", Reply(401, {"reasons": [{"code": 90000011, "message": "nope"}]}))
    with pytest.raises(ZuoraAuthError, match="even after renewing"):
        client.get("/v1/y")
    assert len(stub.calls("GET", "/v1/y")) == 2


def test_bad_credentials_say_what_to_fix_and_never_show_the_secret(stub, caplog):
    stub.script(
        "POST",
        "/oauth/token",
        Reply(401, {"success": False, "reasons": [{"code": 90000011, "message": "invalid credential"}]}),
    )
    client = _client(stub)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ZuoraAuthError) as err:
        client.get("/v1/x")
    assert "my-client" in str(err.value) and "client id and secret" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(client) and SECRET not in caplog.text


def test_token_never_logged_or_in_repr(stub, caplog):
    stub.script("GET", "/v1/x", Reply(500, {}), Reply(200, {}))
    client = _client(stub)
    caplog.set_level(logging.DEBUG)
    client.get("/v1/x")
    assert "tok1" not in caplog.text and "tok1" not in repr(client) and SECRET not in caplog.text


def test_429_storm_honours_retry_after_and_is_bounded(stub):
    storm = Reply(429, {"message": "slow down"}, {"Retry-After": "7"})
    stub.script("GET", "/v1/x", storm, storm, storm, Reply(200, {"ok": True}))
    sleeps: list[float] = []
    client = _client(stub, sleeps, backoff_base=0.01, backoff_cap=0.02)
    assert client.get("/v1/x").json() == {"ok": True}
    assert len(sleeps) == 3 and all(s >= 7 for s in sleeps)

    stub.script("GET", "/v1/always", storm)
    sleeps.clear()
    with pytest.raises(
        ZuoraTransientError, match=r"GET /v1/always: gave up after 4 attempts; last problem: HTTP 429"
    ):
        _client(stub, sleeps, max_attempts=4).get("/v1/always")
    assert len(stub.calls("GET", "/v1/always")) == 4 and len(sleeps) == 3


def test_ratelimit_reset_is_honoured_when_remaining_is_zero(stub):
    stub.script(
        "GET", "/v1/x", Reply(429, {}, {"RateLimit-Remaining": "0", "RateLimit-Reset": "12"}), Reply(200, {})
    )
    sleeps: list[float] = []
    _client(stub, sleeps, backoff_base=0.01).get("/v1/x")
    assert sleeps and sleeps[0] >= 12


def test_5xx_and_retryable_200_false_are_retried_with_backoff(stub):
    stub.script(
        "POST",
        "/v1/x",
        Reply(503, b""),
        Reply(500, {"success": False}),
        Reply(200, {"success": False, "reasons": [{"code": 50000060, "message": "internal"}]}),
        Reply(200, {"id": "j1"}),
    )
    sleeps: list[float] = []
    client = _client(stub, sleeps, backoff_base=1.0, backoff_cap=60.0)
    assert client.post("/v1/x", json={}).json() == {"id": "j1"}
    assert len(sleeps) == 3 and all(0 <= s <= 60 for s in sleeps)


def test_error_bodies_with_http_200_raise_with_code(stub):
    stub.script(
        "POST",
        "/v1/batch-query/",
        Reply(200, {"status": "error", "errorCode": "90005", "message": "There is no field named Foo"}),
    )
    with pytest.raises(ZuoraRequestError) as err:
        _client(stub).post("/v1/batch-query/", json={})
    assert err.value.code == "90005" and "POST /v1/batch-query/" in str(err.value)
    assert len(stub.calls("POST", "/v1/batch-query/")) == 1


def test_track_id_per_request_and_entity_header_everywhere(stub):
    stub.script("GET", "/v1/x", Reply(200, {}))
    client = _client(stub, entity_id="8a8082c4-0000-0000-0000-000000000001", track_id_prefix="run42")
    client.get("/v1/x")
    client.get("/v1/x")
    track_ids = [r.headers["Zuora-Track-Id"] for r in stub.requests]
    assert len(set(track_ids)) == 3 and all(t.startswith("run42-") and len(t) <= 64 for t in track_ids)
    assert all(r.headers["Zuora-Entity-Ids"] == "8a8082c4-0000-0000-0000-000000000001" for r in stub.requests)
    assert "Authorization" not in stub.calls("POST", "/oauth/token")[0].headers


FILE = b"Account.Id\n" + b"".join(b"%032d\n" % i for i in range(100_000))  # 3.3 MB
CHUNK = DOWNLOAD_CHUNK  # a cut download resumes after the last whole chunk it wrote


def test_cut_download_resumes_skipping_the_bytes_received_when_range_is_ignored(stub, tmp_path):
    stub.script("GET", "/v1/files/f1", Reply(200, FILE, cut_after=CHUNK + 1000), Reply(200, FILE))
    sleeps: list[float] = []
    size = _client(stub, sleeps).download("/v1/files/f1", tmp_path / "f.csv")
    assert size == len(FILE) and (tmp_path / "f.csv").read_bytes() == FILE
    calls = stub.calls("GET", "/v1/files/f1")
    assert len(calls) == 2 and len(sleeps) == 1
    assert "Range" not in calls[0].headers and calls[1].headers["Range"] == f"bytes={CHUNK}-"


def test_cut_download_resumes_with_a_range_request(stub, tmp_path):
    n = len(FILE)
    stub.script(
        "GET", "/v1/files/f1",
        Reply(200, FILE, cut_after=CHUNK + 10),
        Reply(206, FILE[CHUNK:], headers={"Content-Range": f"bytes {CHUNK}-{n - 1}/{n}"}, cut_after=CHUNK + 10),
        Reply(206, FILE[2 * CHUNK:], headers={"Content-Range": f"bytes {2 * CHUNK}-{n - 1}/{n}"}),
    )
    size = _client(stub).download("/v1/files/f1", tmp_path / "f.csv")
    assert size == n and (tmp_path / "f.csv").read_bytes() == FILE
    ranges = [c.headers.get("Range") for c in stub.calls("GET", "/v1/files/f1")]
    assert ranges == [None, f"bytes={CHUNK}-", f"bytes={2 * CHUNK}-"]


def test_a_range_answer_that_starts_after_the_missing_byte_is_an_error(stub, tmp_path):
    n = len(FILE)
    stub.script(
        "GET", "/v1/files/f1",
        Reply(200, FILE, cut_after=CHUNK + 10),
        Reply(206, FILE[CHUNK + 5:], headers={"Content-Range": f"bytes {CHUNK + 5}-{n - 1}/{n}"}),
    )
    with pytest.raises(ZuoraRequestError, match=rf"from {CHUNK} on.*bytes {CHUNK + 5}-.*cannot resume: rerun"):
        _client(stub).download("/v1/files/f1", tmp_path / "f.csv")


def test_a_download_that_keeps_breaking_gives_up_naming_the_bytes_received(stub, tmp_path):
    stub.script("GET", "/v1/files/f1", Reply(200, FILE, cut_after=CHUNK + 10), Reply(200, FILE, cut_after=CHUNK))
    with pytest.raises(ZuoraTransientError, match=rf"gave up after 3 download attempts.*cut after {CHUNK} bytes"):
        _client(stub, max_attempts=3).download("/v1/files/f1", tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_bytes() == FILE[:CHUNK]


def test_403_max_object_size_and_other_403(stub, tmp_path):
    stub.script(
        "GET", "/v1/files/big", Reply(403, "<security:max-object-size>2047MB</security:max-object-size>")
    )
    with pytest.raises(ZuoraFileTooLargeError, match="smaller window"):
        _client(stub).download("/v1/files/big", tmp_path / "f")
    stub.script("GET", "/v1/files/denied", Reply(403, "Forbidden"))
    with pytest.raises(ZuoraPermissionError, match="Enable DataSource Exports Reporting"):
        _client(stub).download("/v1/files/denied", tmp_path / "f")


def test_connection_refused_is_retried_then_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    client = ZuoraClient(
        "id", SECRET, base_url=f"http://127.0.0.1:{port}", sleep=sleeps.append, max_attempts=3
    )
    with pytest.raises(ZuoraTransientError, match="connection failed"):
        client.get("/v1/x")
    assert len(sleeps) == 2
