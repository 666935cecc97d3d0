"""Parsing while downloading (a reader taking a download thread's bytes from memory) and the bounded prefetch
of batches."""

from __future__ import annotations

import gzip
import threading

import pyarrow as pa
import pytest

from zuora_assets.zuora.client import DOWNLOAD_CHUNK, ZuoraClient, ZuoraTransientError
from zuora_assets.zuora.prefetch import prefetch
from zuora_assets.zuora.results import read_result
from zuora_assets.zuora.streaming import StreamedDownload
from zuora_assets_tests.results_support import HEADER, SCHEMA
from zuora_assets_tests.results_support import spec as _spec
from zuora_assets_tests.zuora_stub import Reply, StubServer

ROWS = 60_000
CSV = (HEADER + "".join(f"{i},2026-01-01T00:00:00Z,{i}.5,{i},true,,,,false\n" for i in range(ROWS))).encode()


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


def _client(stub: StubServer, **kw) -> ZuoraClient:
    return ZuoraClient("id", "secret", base_url=stub.base_url, sleep=lambda s: None, **kw)


def _follow(client: ZuoraClient, buffer_bytes: int = DOWNLOAD_CHUNK * 2) -> StreamedDownload:
    return StreamedDownload(client, "/v1/files/f", client.stream("/v1/files/f"), buffer_bytes)


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gzip"])
def test_rows_parsed_while_downloading_survive_cuts_once_each(stub, gz):
    data = gzip.compress(CSV, compresslevel=0) if gz else CSV  # stored: over a chunk
    assert len(data) > DOWNLOAD_CHUNK + 100
    stub.script("GET", "/v1/files/f", Reply(200, data, cut_after=DOWNLOAD_CHUNK + 100),
                Reply(200, data, cut_after=DOWNLOAD_CHUNK + 50), Reply(200, data))
    with _follow(_client(stub)) as download:
        table = pa.Table.from_batches(list(read_result(_spec(), download.reader, block_size=64 << 10)), SCHEMA)
        assert download.size == len(data)
    assert table.column("id").to_pylist() == [str(i) for i in range(ROWS)]
    assert len(stub.calls("GET", "/v1/files/f")) == 3


def test_a_download_that_fails_raises_in_the_reader_after_the_bytes_received(stub):
    stub.script("GET", "/v1/files/f", Reply(200, CSV, cut_after=DOWNLOAD_CHUNK + 10))
    with _follow(_client(stub, max_attempts=2)) as download, download.reader() as reader:
        with pytest.raises(ZuoraTransientError, match="gave up after 2 download attempts"):
            received = reader.read(DOWNLOAD_CHUNK)
            assert received == CSV[:DOWNLOAD_CHUNK]
            reader.read(1)
        assert isinstance(download.wait(), ZuoraTransientError)


def test_closing_stops_the_download_thread(stub):
    stub.script("GET", "/v1/files/f", Reply(200, CSV * 20))
    download = _follow(_client(stub))
    with download.reader() as reader:
        assert reader.read(10) == CSV[:10]
    download.close()
    assert download.wait() is None and download.size < len(CSV) * 20
    assert not [t for t in threading.enumerate() if t.name == "download /v1/files/f"]


def test_the_download_waits_for_the_reader_beyond_its_buffer(stub):
    stub.script("GET", "/v1/files/f", Reply(200, CSV * 20))
    buffer = DOWNLOAD_CHUNK * 2
    with _follow(_client(stub), buffer_bytes=buffer) as download, download.reader() as reader:
        assert reader.read(10) == CSV[:10]
        pipe = download._pipe
        with pipe.cond:  # until the download fills the buffer (or, unbounded, ends)
            assert pipe.cond.wait_for(lambda: pipe.waiting >= buffer or pipe.ended, timeout=60)
            assert not pipe.ended and download.size <= DOWNLOAD_CHUNK + buffer + DOWNLOAD_CHUNK
        assert reader.read() == (CSV * 20)[10:]  # then the rest, in order
    assert download.wait() is None and download.size == len(CSV) * 20


# -- prefetch -------------------------------------------------------------------------------------------------


class Source:
    """A generator of 0..n-1 that checks how far ahead of the consumer it gets, and whether it was closed."""

    def __init__(self, n: int, ahead_limit: int, fail_at: int | None = None):
        self.n, self.ahead_limit, self.fail_at = n, ahead_limit, fail_at
        self.produced = self.consumed = 0
        self.too_far: list[int] = []
        self.closed = threading.Event()

    def __iter__(self):
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise ValueError(f"item {i} is bad")
                if self.produced - self.consumed > self.ahead_limit:
                    self.too_far.append(i)
                self.produced += 1
                yield i
        finally:
            self.closed.set()


def test_prefetch_keeps_order_and_stays_within_its_budget():
    source = Source(200, ahead_limit=4)
    got = []
    for item in prefetch(iter(source), max_bytes=3, size=lambda _: 1):
        got.append(item)
        source.consumed += 1
    assert got == list(range(200)) and source.too_far == [] and source.closed.is_set()


def test_prefetch_raises_the_producers_error_after_the_items_before_it():
    source = Source(10, ahead_limit=100, fail_at=5)
    got = []
    with pytest.raises(ValueError, match="item 5 is bad"):
        for item in prefetch(iter(source), max_bytes=100, size=lambda _: 1):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_closing_the_consumer_stops_the_producer_and_closes_its_source():
    source = Source(10_000, ahead_limit=100)
    items = prefetch(iter(source), max_bytes=2, size=lambda _: 1, name="test-prefetch")
    assert next(items) == 0
    items.close()
    assert source.closed.is_set() and source.produced < 10_000
    assert not [t for t in threading.enumerate() if t.name == "test-prefetch"]
