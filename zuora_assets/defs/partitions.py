"""The daily partitions shared by every asset: UTC days from the first day to today.

The first day never moves later, so a partition once shown never disappears: it is `ZUORA_START_DATE`
(required when data goes to S3), or in the embedded default the day pinned in the local lake at its first
sync (30 days before it), or, before any sync, 30 days before today.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from zuora_assets.defs.resources import LOCAL_FOLDER
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.state import pin_start_date, read_start_date
from zuora_assets.lake.storage import Storage, StorageError
from zuora_assets.settings import DEFAULT_START_DAYS_AGO, Settings


def start_date(settings: Settings, today: date) -> date:
    """The first partition day for these (validated) settings, read when the definitions load."""
    if settings.start_date is not None:
        return settings.start_date
    if settings.aws is None:
        pinned = _pinned(settings.local_dir)
        if pinned is not None:
            return pinned
    return today - timedelta(days=DEFAULT_START_DAYS_AGO)


def _pinned(home: Path) -> date | None:
    try:
        return read_start_date(LocalStorage(home), LOCAL_FOLDER)
    except StorageError:
        return None  # reported by the first sync, which reads it again


def daily_partitions(settings: Settings, today: date) -> dg.DailyPartitionsDefinition:
    """The partitions definition: one per UTC day from `start_date` on, today's included."""
    # end_offset=1: today's partition exists, so the sensor can sync the current day as it happens.
    first = start_date(settings, today).isoformat()
    return dg.DailyPartitionsDefinition(start_date=first, timezone="UTC", end_offset=1)


def pin_first_day(settings: Settings, storage: Storage, folder: str, first_day: date) -> date | None:
    """In the embedded default without ZUORA_START_DATE, pin `first_day` in the lake (if none is pinned yet)
    so that the partitions keep starting there; return the pinned day (None when not pinned)."""
    if settings.aws is not None or settings.start_date is not None:
        return None
    return pin_start_date(storage, folder, first_day)
