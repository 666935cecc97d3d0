"""What the lake forgets: the manifests of replaced transfers, once they are older than the retention period.

A replace that deleted older files records its partition in the sync state (`SyncState.replaced`). The
nightly consolidation calls `prune_replaced_manifests`: for each such partition whose replace is older than
the retention, one listing of its manifests and one of its data files, then one delete of the manifests
older than the replace whose files are gone. At most `limit` partitions per call, so the cost of a call
does not grow with the lake's history, and the state forgets each pruned partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from zuora_assets.lake import layout
from zuora_assets.lake.state import SyncState, forget_replaced
from zuora_assets.lake.storage import Storage

PRUNE_LIMIT = 31  # partitions per call


@dataclass(frozen=True)
class Pruned:
    """What one pruning call removed."""

    partitions: tuple[str, ...]
    manifests: tuple[str, ...]
    waiting: int  # partitions still waiting (not old enough yet, or beyond the limit)


def prune_replaced_manifests(
    storage: Storage,
    folder: str,
    model: str,
    state: SyncState,
    *,
    now: datetime,
    retention: timedelta,
    limit: int = PRUNE_LIMIT,
) -> Pruned:
    """Remove the manifests of replaced transfers in the partitions whose replace is older than `retention`."""
    cutoff = layout.format_ts(now - retention)
    due = sorted(dt for dt, ts in state.replaced.items() if ts <= cutoff)[:limit]
    removed: list[str] = []
    for dt in due:
        removed += _prune_partition(storage, folder, model, dt, state.replaced[dt])
    if due:
        forget_replaced(storage, folder, model, due)
    return Pruned(tuple(due), tuple(removed), len(state.replaced) - len(due))


def _prune_partition(storage: Storage, folder: str, model: str, dt: str, replace_ts: str) -> list[str]:
    """Delete partition `dt`'s manifests older than `replace_ts` whose data files are all gone."""
    prefix = layout.partition_prefix(folder, model, dt)
    live = {parsed[1] for o in storage.list(prefix) if (parsed := layout.parse_data_key(o.key))}
    doomed = [
        o.key
        for o in storage.list(layout.manifests_partition_prefix(folder, model, dt))
        if (ts := layout.ts_of_manifest_key(o.key)) is not None and ts < replace_ts and ts not in live
    ]
    if doomed:
        storage.delete(doomed)
    return doomed
