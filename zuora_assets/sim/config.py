"""The knobs of a simulated Zuora tenant: size, history, clock, credentials, limits and custom fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zuora_assets.zuora.catalog import MODELS_BY_OBJECT, ZUORA_TYPES


def _default_custom_fields() -> dict[str, list[tuple[str, str]]]:
    return {"Account": [("Region__c", "text")]}


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes a simulated tenant; the data is deterministic for (seed, accounts, days, now).

    Size: `accounts` drives every model's row count; `invoice_items` forces the InvoiceItem count.
    History: the generated timeline spans [now - days, now].
    Clock: with `clock_follows_wall` the sim clock is `now` plus the wall time elapsed since `start()`.
    Limits: `max_concurrent_jobs` (AQuA 90028), `max_file_bytes` (file 403), `rate_limit_rpm` (429).
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
    """Raise ValueError unless `name` is a custom field name (`X__c`) of a known Zuora type."""
    if not name.endswith("__c") or not name[:-3].isidentifier():
        raise ValueError(f"custom field {obj}.{name}: custom field names end in '__c' (e.g. 'Region__c')")
    if ztype not in ZUORA_TYPES:
        raise ValueError(f"custom field {obj}.{name}: unknown type {ztype!r}; use one of {', '.join(ZUORA_TYPES)}")
