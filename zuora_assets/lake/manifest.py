"""Transfer manifests: the record of each committed transfer, from which the sync state is rebuilt.

One JSON object per transfer at `<folder>/_zuora/manifests/<model>/dt=<D>/<ts>.json`, written after the
transfer's data files: a transfer without a manifest is not committed. Its key is known from (dt, ts) alone.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime

from zuora_assets.common.failures import InvalidValue
from zuora_assets.lake import layout
from zuora_assets.lake.storage import KeyNotFound, Storage

MANIFEST_FORMAT = 1
_READ_THREADS = 16


@dataclass(frozen=True)
class ManifestFile:
    """One data file of a transfer."""

    key: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """One committed transfer of one model into one partition."""

    model: str
    dt: str
    transfer_ts: str
    mode: str
    window_start: datetime
    window_end: datetime
    rows: int
    bytes: int
    files: tuple[ManifestFile, ...]
    schema: tuple[tuple[str, str], ...]  # (column, Arrow type)
    replaced_keys: tuple[str, ...] = ()  # filled by format-1 writers before the snapshot order; now empty
    run_id: str | None = None
    # How the rows were found when they are not a window of changes (e.g. "reconciliation": tombstones of
    # keys gone from the source); such a transfer survives replaces of its partition and moves no sync state.
    detected_by: str | None = None
    key: str = field(default="", compare=False)

    def to_json(self) -> bytes:
        """The manifest as stored (UTF-8 JSON)."""
        body = asdict(self)
        body.pop("key")
        body.update(
            format=MANIFEST_FORMAT,
            window_start=self.window_start.isoformat(),
            window_end=self.window_end.isoformat(),
            schema=[{"name": name, "type": type_} for name, type_ in self.schema],
        )
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, key: str = "") -> Manifest:
        """Parse a stored manifest; ValueError naming `key` if it is not one."""
        try:
            body = json.loads(data)
            if body.pop("format") != MANIFEST_FORMAT:
                raise InvalidValue(f"unknown manifest format (this code reads format {MANIFEST_FORMAT})")
            return cls(
                **{
                    **body,
                    "window_start": datetime.fromisoformat(body["window_start"]),
                    "window_end": datetime.fromisoformat(body["window_end"]),
                    "files": tuple(ManifestFile(**f) for f in body["files"]),
                    "schema": tuple((c["name"], c["type"]) for c in body["schema"]),
                    "replaced_keys": tuple(body["replaced_keys"]),
                },
                key=key,
            )
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidValue(
                f"{key or 'manifest'} is not a valid lake manifest ({err}); move it out of the manifests folder"
            ) from err


def write_manifest(storage: Storage, folder: str, manifest: Manifest) -> str:
    """Store `manifest` (never replacing one) and return its key."""
    key = layout.manifest_key(folder, manifest.model, manifest.dt, manifest.transfer_ts)
    storage.put_bytes(key, manifest.to_json(), if_none_match=True)
    return key


def read_manifests(
    storage: Storage, folder: str, model: str, dts: list[str] | None = None, *, keys: list[str] | None = None
) -> list[Manifest]:
    """Every manifest of `model` (or of partitions `dts`, or exactly `keys`), sorted by (dt, transfer_ts)."""
    folder, model = layout.check_folder(folder), layout.check_model(model)
    if keys is None:
        prefix = layout.manifests_prefix(folder, model)
        wanted = set(dts) if dts is not None else None
        keys = [
            o.key
            for o in storage.list(prefix)
            if o.key.endswith(".json") and (wanted is None or layout.dt_of_key(o.key) in wanted)
        ]

    def read(key: str) -> Manifest | None:
        try:
            return Manifest.from_json(storage.get_bytes(key), key=key)
        except KeyNotFound:  # removed since the listing (a transfer that yielded, or retention)
            return None

    with ThreadPoolExecutor(max_workers=_READ_THREADS) as pool:
        manifests = [m for m in pool.map(read, keys) if m is not None]
    return sorted(manifests, key=lambda m: (m.dt, m.transfer_ts))


def read_manifest(storage: Storage, folder: str, model: str, dt: str, transfer_ts: str) -> Manifest | None:
    """The manifest of transfer `transfer_ts` in partition `dt`, or None if that transfer is not committed."""
    key = layout.manifest_key(folder, model, dt, transfer_ts)
    try:
        return Manifest.from_json(storage.get_bytes(key), key=key)
    except KeyNotFound:
        return None
