"""Transfer timestamps: each transfer of a model reserves its own `YYYYMMDDHHMMSS` by a conditional put.

The reservation `<folder>/_zuora/transfers/<model>/<ts>.json` is created with if-none-match, so two
transfers of one model never share a timestamp, even across concurrent runs; a taken second moves to the
next free one (found by listing that hour's reservations). Reservations are never deleted, so a timestamp
is never reused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from zuora_assets.lake import layout
from zuora_assets.lake.storage import KeyExists, Storage, StorageError

MAX_ATTEMPTS = 3600  # an hour of seconds: far beyond any realistic number of concurrent transfers


def reserve_transfer_ts(storage: Storage, folder: str, model: str, not_before: str, *, note: dict) -> str:
    """Reserve and return the first free transfer timestamp of `model` at or after `not_before`.

    `note` (e.g. run id, dt) is stored in the reservation for people investigating the lake.
    """
    ts = not_before
    for _ in range(MAX_ATTEMPTS):
        body = {"model": model, "transfer_ts": ts, "reserved_at": datetime.now(UTC).isoformat(), **note}
        try:
            storage.put_bytes(layout.reservation_key(folder, model, ts), json.dumps(body).encode())
            return ts
        except KeyExists:
            ts = _next_free(storage, folder, model, ts)
    raise StorageError(
        f"model {model!r}: no free transfer timestamp in {MAX_ATTEMPTS} seconds after {not_before} under "
        f"{storage.uri(layout.reservation_key(folder, model, not_before))}; check the clock and for runaway writers"
    )


def _next_free(storage: Storage, folder: str, model: str, taken_ts: str) -> str:
    """The first second after `taken_ts` not reserved yet, as far as a listing of that hour shows."""
    hour_prefix = layout.reservation_key(folder, model, taken_ts)[: -len(".json") - 4]  # ...<YYYYMMDDHH>
    taken = {o.key.rsplit("/", 1)[-1].removesuffix(".json") for o in storage.list(hour_prefix)}
    ts = layout.next_ts(taken_ts)
    while ts in taken:
        ts = layout.next_ts(ts)
    return ts
