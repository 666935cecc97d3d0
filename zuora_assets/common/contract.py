"""The data contract's names (DESIGN.md section 2) in one place: the partition column and its values, the
columns every model's table has, and the ranking that picks a record's latest version."""

from __future__ import annotations

import re
from datetime import date

PARTITION_COLUMN = "dt"
ID_COLUMN = "id"
UPDATED_COLUMN = "updated_date"
DELETED_COLUMN = "_deleted"
TRANSFERRED_AT_COLUMN = "_transferred_at"

# A record's latest version: the greatest by these columns, in this order, a null being the least; so on a
# full tie of the timestamps the tombstone wins. The `_current` views (SQL) and the lake's readers (polars)
# rank versions by exactly this.
VERSION_ORDER = (UPDATED_COLUMN, TRANSFERRED_AT_COLUMN)
VERSION_RANKING = (*VERSION_ORDER, DELETED_COLUMN)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_day(value: object) -> bool:
    """True when `value` is a partition value: a real calendar day written `YYYY-MM-DD`."""
    if not isinstance(value, str) or not _DAY.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def partition_folder(dt: str) -> str:
    """`dt=<dt>`: the Hive folder of one partition, inside a model's folder."""
    return f"{PARTITION_COLUMN}={dt}"
