"""The one daily partitions definition shared by every asset: UTC days from the start date to today."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import dagster as dg

DEFAULT_HISTORY_DAYS = 30


def start_date(environ=os.environ) -> date:
    """`ZUORA_START_DATE`, or 30 days ago. Read at load time because it shapes the partitions.

    A bad value is reported by the settings check at run time; here it falls back to the default so
    that the definitions still load and the UI can show the error on the first run.
    """
    raw = environ.get("ZUORA_START_DATE")
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    return datetime.now(UTC).date() - timedelta(days=DEFAULT_HISTORY_DAYS)


# end_offset=1: today's partition exists, so the sensor can sync the current day as it happens.
daily = dg.DailyPartitionsDefinition(start_date=start_date().isoformat(), timezone="UTC", end_offset=1)
