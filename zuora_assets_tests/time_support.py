"""Test support for runs whose time and order the test drives: the simulator's clock as the project's clock,
the wall clock shifted to a time the test chose, a lake that holds a run's uploads until released, a run in a thread, and the lake of the current settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa

from zuora_assets.defs.resources import LakeResource, lake_folder, lake_storage
from zuora_assets.lake import layout
from zuora_assets.lake.readers import files_in_partition, partition_dataset
from zuora_assets.settings import Settings
from zuora_assets_tests.lake_support import StorageWrapper

HOLDS: dict[str, threading.Event] = {}  # name -> the event a HeldLake's uploads wait for


class SimTime:
    """The project's clock for a test: the simulator's clock (frozen, moved by the test). `sleep` moves it
    instead of waiting; `readings` are the moments read, and `read` is set at the first one."""

    def __init__(self, sim):
        self.sim = sim
        self.readings: list[datetime] = []
        self.read = threading.Event()

    def now(self) -> datetime:
        moment = self.sim.clock()
        self.readings.append(moment)
        self.read.set()
        return moment

    def sleep(self, seconds: float) -> None:
        self.sim.advance(seconds)


OFFSET_ENV = "E2E_CLOCK_OFFSET_SECONDS"  # read by the tests' code locations only, never by zuora_assets


class ShiftedClock:
    """The wall clock (UTC) plus a fixed offset. `sleep` waits for real: what is waited on (the simulator's
    jobs, whose clock follows wall time too) moves with the wall clock."""

    def __init__(self, offset: timedelta):
        self.offset = offset

    @classmethod
    def reading(cls, moment: datetime) -> ShiftedClock:
        """The clock that reads `moment` now and moves on with the wall clock from there."""
        return cls(moment - datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def environment(self) -> dict[str, str]:
        """The variable that gives this clock to the processes loading this module."""
        return {OFFSET_ENV: repr(self.offset.total_seconds())}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], reader: str) -> ShiftedClock:
        """The clock `environment()` gave; exits naming `reader` when the variable is missing or wrong."""
        try:
            return cls(timedelta(seconds=float(environ[OFFSET_ENV])))
        except (KeyError, ValueError):
            raise SystemExit(f"{OFFSET_ENV} must be a clock offset in seconds (got {environ.get(OFFSET_ENV)!r}): "
                             f"{reader} is a code location of the tests, which set it") from None


class _HoldUploads(StorageWrapper):
    def __init__(self, inner, release: threading.Event):
        super().__init__(inner)
        self.release = release

    def put_file(self, key, path, *, if_none_match=True):
        assert self.release.wait(timeout=180), "the test never released the held uploads"
        return self.inner.put_file(key, path, if_none_match=if_none_match)


class HeldLake(LakeResource):
    """The lake of the settings, but data uploads wait until `HOLDS[hold]` is set: a run whose export was slow
    reaches the lake only when the test says so."""

    hold: str

    def storage(self):
        return _HoldUploads(super().storage(), HOLDS[self.hold])


def held_resources(base: dict, hold: str) -> dict:
    """Resource overrides that make a run's lake a `HeldLake` (asset and IO manager alike)."""
    from zuora_assets.defs.io_manager import LakeIOManager

    HOLDS[hold] = threading.Event()
    lake = HeldLake.configure_at_launch(settings=base["settings"], hold=hold)
    # All of `base` but its clock too: resources bound with `configure_at_launch` refer to the one `settings`
    # of their set (the run's clock stays the one it is given).
    others = {key: value for key, value in base.items() if key != "clock"}
    return {**others, "lake": lake, "lake_io_manager": LakeIOManager.configure_at_launch(lake=lake)}


class InThread:
    """Runs `target` in a thread; `result()` waits and returns what it returned (or raises what it raised)."""

    def __init__(self, target: Callable):
        self._out: list = []
        self._thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self._thread.start()

    def _run(self, target: Callable) -> None:
        try:
            self._out.append(target())
        except BaseException as err:  # handed to the test by result()
            self._out.append(err)

    def result(self, timeout: float = 180):
        self._thread.join(timeout=timeout)
        assert self._out, "the thread did not finish"
        if isinstance(self._out[0], BaseException):
            raise self._out[0]
        return self._out[0]


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "the condition") -> None:
    """Wait for another thread to make `condition` true (checked every 20 ms), failing after `timeout` s."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        pause.wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def job_submissions(sim) -> int:
    return sum(1 for r in sim.requests() if r["method"] == "POST" and r["path"].rstrip("/") == "/v1/batch-query")


def partition_table(model: str, dt: str) -> pa.Table:
    """Every row in partition `dt` of `model`, in the lake of the current settings."""
    settings = Settings.from_env()
    return partition_dataset(lake_storage(settings), lake_folder(settings), model, [dt]).to_table()


def partition_transfers(model: str, dt: str) -> set[str]:
    settings = Settings.from_env()
    files = files_in_partition(lake_storage(settings), lake_folder(settings), model, dt)
    return {layout.parse_data_key(o.key)[1] for o in files}


def latest_versions(table: pa.Table, columns: list[str]) -> pa.Table:
    """The latest version of each id (greatest updated_date, then _transferred_at), as `<model>_current` picks,
    tombstones kept, sorted by id."""
    order = ["id", "updated_date", "_transferred_at"]
    frame = pl.from_arrow(table.select(order)).with_row_index("row")
    rows = frame.sort(["updated_date", "_transferred_at"]).group_by("id").last().get_column("row").to_list()
    return table.take(rows).select(columns).sort_by("id")
