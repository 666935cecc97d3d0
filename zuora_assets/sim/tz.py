"""Time handling of the simulator: epoch milliseconds, Zuora datetime literals and tenant-zone rendering.

All instants inside the simulator are int64 epoch milliseconds (UTC), always whole seconds.
Zuora system time is America/Los_Angeles ("Pacific"); the tenant zone is configurable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PACIFIC = "America/Los_Angeles"
DAY_MS = 86_400_000

_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_SPACED = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def to_ms(dt: datetime) -> int:
    """Epoch milliseconds of `dt` (a naive datetime is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds `ms`."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))


def naive(ms: int) -> datetime:
    """The naive UTC datetime of epoch milliseconds `ms` (how Arrow timestamp('ms') scalars are built)."""
    return from_ms(ms).replace(tzinfo=None)


def iso_z(ms: int) -> str:
    """`2024-01-02T03:04:05Z` for epoch milliseconds."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_midnight_ms(day: date, tz: str) -> int:
    """Epoch ms of 00:00 of `day` in zone `tz`."""
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)))


def local_date(ms: int, tz: str) -> date:
    """The calendar date in zone `tz` at instant `ms`."""
    return from_ms(ms).astimezone(ZoneInfo(tz)).date()


def midnights(start_ms: int, end_ms: int, tz: str) -> np.ndarray:
    """Sorted epoch ms of every local midnight in `tz` from the day before `start_ms` to the day after `end_ms`."""
    first, last = local_date(start_ms, tz) - timedelta(days=1), local_date(end_ms, tz) + timedelta(days=1)
    days = (last - first).days + 1
    return np.array([local_midnight_ms(first + timedelta(days=i), tz) for i in range(days)], dtype=np.int64)


@dataclass(frozen=True)
class Literal:
    """A Zuora datetime literal: an instant (`start`), a whole local day [start, end), or `ignored`."""

    start: int = 0
    end: int | None = None
    ignored: bool = False

    @property
    def is_day(self) -> bool:
        return self.end is not None


def parse_literal(text: str, tenant_tz: str) -> Literal:
    """Parse an Export ZOQL datetime literal the way Zuora documents it ("Export ZOQL Filter Statements").

    `YYYY-MM-DDThh:mm[:ss[.SSS]]` with `Z`, `±hh:mm` (or `±hhmm`) is that instant; the seconds and the zone
    are optional, and without a zone it is tenant time (WSDL 69+). `YYYY-MM-DD` is the whole day in tenant
    time, `YYYY-MM-DDZ` (or with an offset) the whole day in that zone. `YYYY-MM-DD hh:mm:ss` (a space)
    is silently ignored by Zuora (reference/zuora_api.md 3.6). Raises ValueError for anything else.
    """
    text = text.strip()
    if _SPACED.match(text):
        return Literal(ignored=True)
    m = _DATE.match(text)
    if m:
        day, off = date.fromisoformat(m.group(1)), m.group(2)
        start = local_midnight_ms(day, tenant_tz) if off is None else to_ms(datetime(day.year, day.month, day.day)) - _offset_ms(off)
        return Literal(start, start + DAY_MS if off is not None else local_midnight_ms(day + timedelta(days=1), tenant_tz))
    m = _DATETIME.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a datetime literal (use YYYY-MM-DDTHH:MM:SSZ)")
    day, hh, mi, ss, off = m.groups()
    try:
        naive_dt = datetime.fromisoformat(f"{day}T{hh}:{mi}:{ss or '00'}")
    except ValueError as e:
        raise ValueError(f"{text!r} is not a valid date and time ({e})") from e
    if off is None:
        return Literal(to_ms(naive_dt.replace(tzinfo=ZoneInfo(tenant_tz))))
    return Literal(to_ms(naive_dt) - _offset_ms(off))


def _offset_ms(off: str) -> int:
    if off.upper() == "Z":
        return 0
    sign = -1 if off[0] == "-" else 1
    digits = off[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * 1000


def offset_text(seconds: int, colon: bool) -> str:
    """`-0800` / `-08:00` for an offset of -28800 seconds."""
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


FIRST_SECOND, LAST_SECOND = -62135596800, 253402300799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
_SAFE = (FIRST_SECOND + 2 * 86400, LAST_SECOND - 2 * 86400)  # where every zone's local time is a valid date


def _offset_at(second: int, zone: ZoneInfo) -> int:
    return int(datetime.fromtimestamp(second, zone).utcoffset().total_seconds())


@lru_cache(maxsize=1 << 16)
def _day_offsets(tz: str, day: int) -> tuple[int, int, int]:
    """(offset at the day's first second, offset at its last, first second with the latter) of a UTC day."""
    zone = ZoneInfo(tz)
    lo, hi = day * 86400, day * 86400 + 86399
    first, last = _offset_at(lo, zone), _offset_at(hi, zone)
    while first != last and hi - lo > 1:  # the first second with the new offset
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _offset_at(mid, zone) == first else (lo, mid)
    return first, last, hi


def utc_offsets(seconds: np.ndarray, tz: str) -> np.ndarray:
    """The UTC offset (in seconds) of zone `tz` at each epoch-second instant.

    Looked up once per distinct UTC day (twice more where the offset changes that day). Instants within two
    days of year 1 or 9999 take the offset of the nearest instant whose local time every zone can express.
    """
    if len(seconds) == 0 or tz == "UTC":
        return np.zeros(len(seconds), dtype=np.int64)
    clamped = np.clip(seconds, *_SAFE)
    days, inverse = np.unique(clamped // 86400, return_inverse=True)
    table = np.array([_day_offsets(tz, int(d)) for d in days], dtype=np.int64).reshape(-1, 3)
    inverse = inverse.ravel()
    first, last, switch = table[inverse, 0], table[inverse, 1], table[inverse, 2]
    return np.where(clamped >= switch, last, first)


def _epoch_seconds(ts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds with nulls as 0, validity mask) of a timestamp array."""
    valid = pc.is_valid(ts).to_numpy(zero_copy_only=False)
    ms = pc.fill_null(pc.cast(ts, pa.int64()), 0).to_numpy(zero_copy_only=False)
    return ms // 1000, valid


def _iso_bytes(seconds: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DDTHH:MM:SS` of naive epoch seconds as an (n, 19) uint8 matrix."""
    text = pa.array(seconds, type=pa.timestamp("s")).cast(pa.string())
    out = np.frombuffer(text.buffers()[2], dtype=np.uint8, count=19 * len(seconds)).reshape(-1, 19).copy()
    out[:, 10] = ord("T")
    return out


def pacific_midnight(ts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(mask of values exactly at 00:00:00 Pacific, their Pacific local epoch seconds); nulls are not midnight."""
    seconds, valid = _epoch_seconds(ts)
    local = seconds + utc_offsets(seconds, PACIFIC)
    return valid & (local % 86400 == 0), local


def render_datetimes(ts: pa.Array, tz: str, pacific_date_only: bool = True) -> pa.Array:
    """Timestamps as `YYYY-MM-DDTHH:MM:SS±hhmm` in zone `tz` (nulls stay null), built with numpy.

    With `pacific_date_only`, a value exactly at midnight Pacific is written as its Pacific date only.
    """
    seconds, valid = _epoch_seconds(ts)
    n = len(seconds)
    offsets = utc_offsets(seconds, tz)
    local = seconds + offsets
    offsets = np.where((local < FIRST_SECOND) | (local > LAST_SECOND), 0, offsets)  # say it in UTC (+0000)
    uniques, inverse = np.unique(offsets, return_inverse=True)
    suffixes = np.array([list(offset_text(int(u), colon=False).encode()) for u in uniques], dtype=np.uint8)
    rows = np.empty((n, 24), dtype=np.uint8)
    rows[:, :19] = _iso_bytes(seconds + offsets)
    rows[:, 19:] = suffixes[inverse.ravel()] if n else suffixes.reshape(0, 5)
    lengths = np.where(valid, 24, 0)
    if pacific_date_only:
        midnight, local = pacific_midnight(ts)
        if midnight.any():
            rows[midnight, :10] = _iso_bytes(local[midnight])[:, :10]
            lengths[midnight] = 10
    data = rows[np.arange(24) < lengths[:, None]]
    ends = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    validity = pa.array(valid).buffers()[1] if not valid.all() else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(ends), pa.py_buffer(data), validity)


def format_instant(ms: int, tz: str, timespec: str = "auto") -> str:
    """One instant as ISO-8601 with the zone's colon offset, e.g. `2025-03-25T06:26:16-07:00`.

    An instant whose local time would fall before year 1 or after 9999 is given in UTC (`+00:00`).
    """
    utc = from_ms(ms)
    try:
        return utc.astimezone(ZoneInfo(tz)).isoformat(timespec=timespec)
    except OverflowError:
        return utc.isoformat(timespec=timespec)
