"""Settings of the scheduled upkeep (the weekly reconciliation of deletes, the silent-field re-read), read from
environment variables when the definitions load and validated all at once, one "VARIABLE: problem (rule)" line
each, like the connector's other settings."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dagster._utils.schedules import is_valid_cron_string

from zuora_assets.settings import SettingsError
from zuora_assets.zuora.catalog import MODELS

DEFAULT_RECONCILE_CRON = "0 4 * * 0"  # Sundays 04:00 UTC, after the nightly consolidation
DEFAULT_REREAD_CRON = "30 3 * * *"  # daily 03:30 UTC, after the nightly consolidation
DEFAULT_MEMORY_LIMIT = "1GB"
_MEMORY = re.compile(r"^\d{1,6}(MB|GB)$")


@dataclass(frozen=True)
class UpkeepSettings:
    reconcile_cron: str = DEFAULT_RECONCILE_CRON
    reconcile_skip: frozenset[str] = frozenset()  # models the reconciliation leaves out
    reconcile_memory_limit: str = DEFAULT_MEMORY_LIMIT
    reread_cron: str = DEFAULT_REREAD_CRON
    reread_days: dict[str, int | None] = field(default_factory=dict)  # model -> days (None: every partition)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> UpkeepSettings:
        problems: list[str] = []

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        def cron(name: str, default: str) -> str:
            value = get(name)
            if value is None:
                return default
            if not is_valid_cron_string(value):
                problems.append(f"{name}: {value!r} is not a cron schedule (five fields, UTC, e.g. {default!r})")
                return default
            return value

        skip = frozenset(m.strip() for m in (get("ZUORA_RECONCILE_SKIP") or "").split(",") if m.strip())
        if unknown := sorted(skip - set(MODELS)):
            problems.append(f"ZUORA_RECONCILE_SKIP: {', '.join(unknown)} not a model (comma-separated model names, "
                            f"e.g. invoice_item,usage)")
        memory = get("ZUORA_RECONCILE_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
        if not _MEMORY.match(memory):
            problems.append(f"ZUORA_RECONCILE_MEMORY_LIMIT: {memory!r} is not a memory size (a whole number of MB "
                            f"or GB, e.g. 1GB); DuckDB spills to disk beyond it")
        settings = cls(
            reconcile_cron=cron("ZUORA_RECONCILE_CRON", DEFAULT_RECONCILE_CRON),
            reconcile_skip=skip,
            reconcile_memory_limit=memory,
            reread_cron=cron("ZUORA_REREAD_CRON", DEFAULT_REREAD_CRON),
            reread_days=_reread_days(get("ZUORA_REREAD_DAYS"), problems),
        )
        if problems:
            raise SettingsError(problems)
        return settings


def _reread_days(value: str | None, problems: list[str]) -> dict[str, int | None]:
    """Per model with silent fields: the catalog's `reread_days`, overridden by `model=days|full|off` pairs."""
    days: dict[str, int | None] = {m.name: m.reread_days for m in MODELS.values() if m.silent_fields}
    rule = "comma-separated model=days|full|off, for models with silent fields: " + ", ".join(sorted(days))
    for pair in (value or "").split(","):
        if not pair.strip():
            continue
        name, _, amount = (part.strip() for part in pair.partition("="))
        if name not in days:
            problems.append(f"ZUORA_REREAD_DAYS: {name!r} is not a model with silent fields ({rule})")
        elif amount == "off":
            del days[name]
        elif amount == "full":
            days[name] = None
        elif amount.isdigit() and int(amount) >= 1:
            days[name] = int(amount)
        else:
            problems.append(f"ZUORA_REREAD_DAYS: {pair.strip()!r} has no days, full or off ({rule})")
    return days
