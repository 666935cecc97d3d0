"""What a table sync reports, and the marker that every table and view this project manages carries."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MARKER = "zuora_athena.managed"


@dataclass(frozen=True)
class TableSync:
    """What one table sync did: `action` is "created", "updated" or "unchanged"."""

    name: str
    action: str
    added_columns: tuple[str, ...] = ()
    widened_columns: tuple[str, ...] = ()
    partitions_registered: tuple[str, ...] = ()
