"""Where things live in the lake: the keys of data files, manifests and sync state, and parsing them back.

The data contract (DESIGN.md 2.1):
`<folder>/<model>/dt=<YYYY-MM-DD>/<file_part>_<YYYYMMDDHHMMSS>.parquet`; bookkeeping under `<folder>/_zuora/`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from zuora_assets.common.contract import PARTITION_COLUMN, is_day, partition_folder
from zuora_assets.common.failures import InvalidValue

BOOKKEEPING_DIR = "_zuora"
TS_FORMAT = "%Y%m%d%H%M%S"

_DATA_FILE = re.compile(r"^(\d+)_(\d{14})\.parquet$")
_MODEL = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def check_model(model: str) -> str:
    """Return `model` if it is a valid model name (lowercase letters, digits, `_`), else raise ValueError."""
    if not _MODEL.match(model):
        raise InvalidValue(
            f"model {model!r} is not a valid model name: use lowercase letters, digits and '_', "
            "starting with a letter or digit"
        )
    return model


def check_folder(folder: str) -> str:
    """Return the folder without surrounding slashes; raise ValueError if a segment is empty, hidden or `..`."""
    folder = folder.strip("/")
    for segment in folder.split("/") if folder else []:
        if not segment or segment in (".", "..") or segment[0] in "._":
            raise InvalidValue(
                f"folder {folder!r}: segment {segment!r} is not allowed (empty, '..', or starting with '.' or '_' "
                "which Athena hides); choose a folder like 'zuora' or 'lake/zuora'"
            )
    return folder


def check_dt(dt: str) -> str:
    """Return `dt` if it is a valid `YYYY-MM-DD` date, else raise ValueError."""
    if is_day(dt):
        return dt
    raise InvalidValue(f"partition {dt!r} is not a date of the form YYYY-MM-DD (e.g. '2026-11-01')")


def join(*parts: str) -> str:
    """Join key segments with `/`, skipping empty ones (so an empty folder adds nothing)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def model_prefix(folder: str, model: str) -> str:
    """`<folder>/<model>/`: the table location of a model."""
    return join(folder, model) + "/"


def partition_prefix(folder: str, model: str, dt: str) -> str:
    """`<folder>/<model>/dt=<dt>/`: one partition of a model."""
    return join(folder, model, partition_folder(dt)) + "/"


def data_key(folder: str, model: str, dt: str, part: int, transfer_ts: str) -> str:
    """The key of file `part` of the transfer `transfer_ts` in partition `dt`."""
    return f"{partition_prefix(folder, model, dt)}{part}_{transfer_ts}.parquet"


def manifests_prefix(folder: str, model: str) -> str:
    """`<folder>/_zuora/manifests/<model>/`: every manifest of a model."""
    return join(folder, BOOKKEEPING_DIR, "manifests", model) + "/"


def manifest_key(folder: str, model: str, dt: str, transfer_ts: str) -> str:
    """The key of the manifest of transfer `transfer_ts` in partition `dt`."""
    return f"{manifests_partition_prefix(folder, model, dt)}{transfer_ts}.json"


def manifests_partition_prefix(folder: str, model: str, dt: str) -> str:
    """`<folder>/_zuora/manifests/<model>/dt=<dt>/`: the manifests of one partition."""
    return f"{manifests_prefix(folder, model)}{partition_folder(dt)}/"


def state_key(folder: str, model: str) -> str:
    """`<folder>/_zuora/state/<model>.json`: the sync state of a model."""
    return join(folder, BOOKKEEPING_DIR, "state", f"{model}.json")


def start_date_key(folder: str) -> str:
    """`<folder>/_zuora/start_date.json`: the first partition day, pinned at the first sync of a lake."""
    return join(folder, BOOKKEEPING_DIR, "start_date.json")


def parse_data_key(key: str) -> tuple[int, str] | None:
    """`(file_part, transfer_ts)` of a data file key, or None if the key's name is not a data file name."""
    match = _DATA_FILE.match(key.rsplit("/", 1)[-1])
    return (int(match.group(1)), match.group(2)) if match else None


def dt_of_key(key: str) -> str | None:
    """The `dt` of a key inside a partition folder (`.../dt=<dt>/name`), or None."""
    segments = key.split("/")
    if len(segments) >= 2 and segments[-2].startswith(f"{PARTITION_COLUMN}="):
        return segments[-2].split("=", 1)[1]
    return None


def format_ts(moment: datetime) -> str:
    """`YYYYMMDDHHMMSS` of a tz-aware moment, in UTC (the second it falls in)."""
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def ts_of_manifest_key(key: str) -> str | None:
    """The transfer timestamp of a manifest key (`.../dt=<D>/<ts>.json`), or None."""
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".json")
    return stem if name.endswith(".json") and len(stem) == 14 and stem.isdigit() else None


def parse_ts(transfer_ts: str) -> datetime:
    """The UTC moment of a `YYYYMMDDHHMMSS` transfer timestamp."""
    return datetime.strptime(transfer_ts, TS_FORMAT).replace(tzinfo=UTC)


def next_ts(transfer_ts: str) -> str:
    """The transfer timestamp one second after `transfer_ts`."""
    return format_ts(parse_ts(transfer_ts) + timedelta(seconds=1))
