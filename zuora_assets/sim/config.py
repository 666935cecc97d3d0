"""The knobs of a simulated Zuora tenant: size, history, clock, credentials, limits, job timing, custom fields."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zuora_assets.zuora.catalog import MODELS_BY_OBJECT, ZUORA_TYPES, is_api_name

TIMING_ENV = "ZUORA_SIM_JOB_TIMING"  # "realistic" switches every simulator's default job timing
RATE_ENV = "ZUORA_SIM_JOB_SECONDS_PER_MILLION_ROWS"  # or set just the export rate (implies realistic waits)
MAX_QUERY_SECONDS = 3 * 3600  # AQuA kills a query after 3 hours (docs.zuora.com .../aqua-api-introduction/limits)


@dataclass(frozen=True)
class JobTiming:
    """How long export jobs take, in sim-clock seconds.

    A job waits `queue_seconds` as `submitted` (its queries `pending`), then runs its queries one after the
    other (AQuA runs them "in a sequential order in a single read-only database transaction"), each taking
    `query_seconds` plus `seconds_per_million_rows` per million rows it exports; a query that would run past
    `max_query_seconds` is killed (90027), as Zuora does after 3 hours. The default is instant (the suite's
    speed); `realistic()` is what a production tenant looks like: Zuora publishes no throughput, but a
    12M-row InvoiceItem export that had not finished after 8 hours (guardian/support-service-lambdas#458)
    puts it near 2,400 s per million rows.
    """

    queue_seconds: float = 0.0
    query_seconds: float = 0.0
    seconds_per_million_rows: float = 0.0
    max_query_seconds: float = MAX_QUERY_SECONDS

    @classmethod
    def realistic(cls, seconds_per_million_rows: float = 2400.0) -> JobTiming:
        return cls(queue_seconds=4.0, query_seconds=2.0, seconds_per_million_rows=seconds_per_million_rows)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> JobTiming:
        """Instant, unless ZUORA_SIM_JOB_TIMING=realistic or ZUORA_SIM_JOB_SECONDS_PER_MILLION_ROWS is set."""
        mode, rate = environ.get(TIMING_ENV, "").strip().lower(), environ.get(RATE_ENV, "").strip()
        if mode not in ("", "instant", "realistic"):
            raise ValueError(f"{TIMING_ENV}={environ[TIMING_ENV]!r}; use 'instant' or 'realistic'")
        if rate:
            try:
                return cls.realistic(float(rate))
            except ValueError as e:
                raise ValueError(f"{RATE_ENV}={rate!r} is not a number of seconds") from e
        return cls.realistic() if mode == "realistic" else cls()

    def __post_init__(self) -> None:
        for name in ("queue_seconds", "query_seconds", "seconds_per_million_rows"):
            if getattr(self, name) < 0:
                raise ValueError(f"JobTiming.{name} is {getattr(self, name)}; it must not be negative")
        if self.max_query_seconds <= 0:
            raise ValueError("JobTiming.max_query_seconds must be positive")

    def query_ms(self, rows: int) -> int:
        """How long a query exporting `rows` rows runs, in ms."""
        return int(round((self.query_seconds + self.seconds_per_million_rows * rows / 1e6) * 1000))


def _default_custom_fields() -> dict[str, list[tuple[str, str]]]:
    return {"Account": [("Region__c", "text")]}


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes a simulated tenant; the data is deterministic for (seed, accounts, days, now).

    Size: `accounts` drives every model's row count; `invoice_items` forces the InvoiceItem count.
    History: the generated timeline spans [now - days, now].
    Clock: with `clock_follows_wall` the sim clock is `now` plus the wall time elapsed since `start()`.
    Limits: `max_concurrent_jobs` (AQuA 90028, per mode, tenant-wide), `max_file_bytes` (file 403),
    `rate_limit_rpm` (429). `job_timing`: how long export jobs take (default: ZUORA_SIM_JOB_TIMING, else
    instant). `partners`: partner ids Zuora issued to this tenant (empty: any partner is accepted).
    """

    seed: int = 7
    accounts: int = 40
    days: int = 30
    now: datetime | None = None
    clock_follows_wall: bool = True
    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"
    token_expires_in: int = 3599
    invoice_items: int | None = None
    polls_to_complete: int = 1
    max_concurrent_jobs: int = 50
    entities: tuple[str, ...] = ()
    custom_fields: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=_default_custom_fields)
    tenant_tz: str = "America/Los_Angeles"
    max_file_bytes: int | None = None
    bursts: tuple[tuple[str, int, datetime | None], ...] = ()
    visibility_lag: int = 0
    rate_limit_rpm: int | None = None
    data_center: str = "US"
    file_retention_days: int = 3
    job_timing: JobTiming = field(default_factory=JobTiming.from_environment)
    partners: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._check_sizes()
        self._check_clock_and_zone()
        self._check_custom_fields()
        for obj, _n, _at in self.bursts:
            _check_object(obj, "SimConfig.bursts")

    def _check_sizes(self) -> None:
        positive = {"accounts": self.accounts, "days": self.days, "polls_to_complete": self.polls_to_complete,
                    "max_concurrent_jobs": self.max_concurrent_jobs}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"SimConfig.{name} is {value}; it must be at least 1")
        if self.invoice_items is not None and self.invoice_items < 0:
            raise ValueError(f"SimConfig.invoice_items is {self.invoice_items}; give None or a count >= 0")
        if self.token_expires_in < 0 or self.visibility_lag < 0:
            raise ValueError("SimConfig.token_expires_in and SimConfig.visibility_lag must not be negative")
        if self.data_center not in ("US", "EU"):
            raise ValueError(f"SimConfig.data_center is {self.data_center!r}; use 'US' or 'EU'")

    def _check_clock_and_zone(self) -> None:
        if self.now is not None and (self.now.tzinfo is None or self.now.utcoffset() is None):
            raise ValueError("SimConfig.now must be a timezone-aware datetime (e.g. datetime(..., tzinfo=UTC))")
        try:
            ZoneInfo(self.tenant_tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"SimConfig.tenant_tz {self.tenant_tz!r} is not an IANA time zone name") from e

    def _check_custom_fields(self) -> None:
        for obj, fields in self.custom_fields.items():
            _check_object(obj, "SimConfig.custom_fields")
            for name, ztype in fields:
                check_custom_field(obj, name, ztype)

    def resolved_now(self) -> datetime:
        """`now` in UTC floored to the second (the current UTC time when `now` is None)."""
        now = self.now or datetime.now(UTC)
        return now.astimezone(UTC).replace(microsecond=0)


def _check_object(obj: str, where: str) -> None:
    if obj.lower() not in MODELS_BY_OBJECT:
        known = ", ".join(sorted(m.object for m in MODELS_BY_OBJECT.values()))
        raise ValueError(f"{where}: unknown Zuora object {obj!r}; use one of {known}")


def check_custom_field(obj: str, name: str, ztype: str) -> None:
    """Raise ValueError unless `name` is a custom field API name (`X__c`, ASCII) of a known Zuora type.

    The same name rule as the query parsers (`catalog.API_NAME`), so every field added can be queried.
    """
    if not name.endswith("__c") or not is_api_name(name[:-3]):
        raise ValueError(f"custom field {obj}.{name}: custom field API names are an ASCII letter, then letters, "
                         f"digits or underscores, ending in '__c' (e.g. 'Region__c')")
    if ztype not in ZUORA_TYPES:
        raise ValueError(f"custom field {obj}.{name}: unknown type {ztype!r}; use one of {', '.join(ZUORA_TYPES)}")
