"""The upkeep settings: when the weekly reconciliation of deletes and the silent-field re-read run, which models
they leave out, and the comparison's memory (`.env.example`, "Upkeep")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zuora_assets.settings.reader import Reader
from zuora_assets.settings.sync import check_cron
from zuora_assets.zuora.catalog import MODELS

DEFAULT_RECONCILE_CRON = "0 4 * * 0"  # Sundays 04:00 UTC, after the nightly consolidation
DEFAULT_REREAD_CRON = "30 3 * * *"  # daily 03:30 UTC, after the nightly consolidation
DEFAULT_MEMORY_LIMIT = "1GB"
_MEMORY = re.compile(r"^\d{1,6}(MB|GB)$", re.ASCII)

UPKEEP_VARS = (
    "ZUORA_RECONCILE_CRON",
    "ZUORA_RECONCILE_SKIP",
    "ZUORA_RECONCILE_MEMORY_LIMIT",
    "ZUORA_REREAD_CRON",
    "ZUORA_REREAD_DAYS",
)


@dataclass(frozen=True)
class UpkeepSettings:
    reconcile_cron: str = DEFAULT_RECONCILE_CRON
    reconcile_skip: frozenset[str] = frozenset()  # models the reconciliation leaves out
    reconcile_memory_limit: str = DEFAULT_MEMORY_LIMIT
    reread_cron: str = DEFAULT_REREAD_CRON
    # model -> days of its re-read window (None: every partition); the catalog's `reread_days` by default
    reread_days: dict[str, int | None] = field(
        default_factory=lambda: {m.name: m.reread_days for m in MODELS.values() if m.silent_fields}
    )


def read_upkeep(r: Reader) -> UpkeepSettings:
    d = UpkeepSettings()
    skip = frozenset(m.strip() for m in (r.get("ZUORA_RECONCILE_SKIP") or "").split(",") if m.strip())
    if unknown := sorted(skip - set(MODELS)):
        r.problem("ZUORA_RECONCILE_SKIP", f"{', '.join(unknown)} not a model (comma-separated model names, e.g. "
                  "invoice_item,usage)")
    memory = r.checked("ZUORA_RECONCILE_MEMORY_LIMIT", _check_memory, d.reconcile_memory_limit)
    return UpkeepSettings(
        reconcile_cron=r.checked("ZUORA_RECONCILE_CRON", check_cron, d.reconcile_cron) or d.reconcile_cron,
        reconcile_skip=skip,
        reconcile_memory_limit=memory or d.reconcile_memory_limit,
        reread_cron=r.checked("ZUORA_REREAD_CRON", check_cron, d.reread_cron) or d.reread_cron,
        reread_days=_reread_days(r, dict(d.reread_days)),
    )


def _check_memory(value: str) -> str | None:
    if _MEMORY.match(value):
        return None
    return "is not a memory size: a whole number of MB or GB, e.g. 1GB (DuckDB spills to disk beyond it)"


def _reread_days(r: Reader, days: dict[str, int | None]) -> dict[str, int | None]:
    """Per model with silent fields: the catalog's `reread_days`, overridden by `model=days|full|off` pairs."""
    rule = "comma-separated model=days|full|off, for models with silent fields: " + ", ".join(sorted(days))
    for pair in (r.get("ZUORA_REREAD_DAYS") or "").split(","):
        if not pair.strip():
            continue
        name, _, amount = (part.strip() for part in pair.partition("="))
        if name not in days:
            r.problem("ZUORA_REREAD_DAYS", f"{name!r} is not a model with silent fields ({rule})")
        elif amount == "off":
            del days[name]
        elif amount == "full":
            days[name] = None
        elif amount.isdigit() and int(amount) >= 1:
            days[name] = int(amount)
        else:
            r.problem("ZUORA_REREAD_DAYS", f"{pair.strip()!r} has no days, full or off ({rule})")
    return days
