"""The daily partitions shared by every asset: UTC days from the first day to today.

The first day never moves later, so a partition once shown never disappears: it is `ZUORA_START_DATE`
(required when data goes to S3), or in the embedded default the day pinned in the local lake at its first
sync (30 days before it), or, before any sync, 30 days before today.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from zuora_assets.defs.resources import LOCAL_FOLDER
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.state import pin_start_date, read_start_date
from zuora_assets.lake.storage import Storage, StorageError
from zuora_assets.settings import DEFAULT_LOCAL_DIR, DEFAULT_START_DAYS_AGO, Settings


def start_date(environ: Mapping[str, str] = os.environ, today: date | None = None) -> date:
    """The first partition day for these settings, read when the definitions load (it shapes the partitions).

    A bad or missing value is reported by the settings check at run time; here it falls back to the default
    so that the definitions still load and the UI can show the error on the first run.
    """
    raw = (environ.get("ZUORA_START_DATE") or "").strip()
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    if not (environ.get("AWS_BUCKET") or "").strip():
        pinned = _pinned(environ)
        if pinned is not None:
            return pinned
    return (today or datetime.now(UTC).date()) - timedelta(days=DEFAULT_START_DAYS_AGO)


def _pinned(environ: Mapping[str, str]) -> date | None:
    home = Path((environ.get("ZUORA_ATHENA_HOME") or "").strip() or DEFAULT_LOCAL_DIR).expanduser()
    try:
        return read_start_date(LocalStorage(home), LOCAL_FOLDER)
    except StorageError:
        return None  # reported by the first sync, which reads it again


def daily_partitions(environ: Mapping[str, str] = os.environ, today: date | None = None):
    """The partitions definition: one per UTC day from `start_date` on, today's included."""
    # end_offset=1: today's partition exists, so the sensor can sync the current day as it happens.
    first = start_date(environ, today).isoformat()
    return dg.DailyPartitionsDefinition(start_date=first, timezone="UTC", end_offset=1)


def pin_first_day(settings: Settings, storage: Storage, folder: str, first_day: date) -> date | None:
    """In the embedded default without ZUORA_START_DATE, pin `first_day` in the lake (if none is pinned yet)
    so that the partitions keep starting there; return the pinned day (None when not pinned)."""
    if settings.aws is not None or settings.start_date is not None:
        return None
    return pin_start_date(storage, folder, first_day)
