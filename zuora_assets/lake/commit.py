"""Committing a transfer's partitions, then ordering them by snapshot (DESIGN.md 3).

Per partition: the manifest is put (the commit), then ONE listing of the partition's data files decides:
- a newer transfer's files are there and its manifest says it is a committed *replace*: this transfer yields:
  it deletes its own files and manifest and reports "superseded by <ts>" (a replace or an append alike);
- otherwise a replace deletes the files older than its own timestamp (never newer ones); an append deletes
  nothing. A newer *append* never makes anything yield (it does not hold the whole partition).
- a transfer whose rows a comparison found (manifest `detected_by`, e.g. reconciliation tombstones) never
  yields, and a replace keeps its files: the source no longer exports those rows, so no re-read could
  restore them.
Why after the commit: the newest replace lists after committing, so it removes everything older uploaded
before its listing; an older transfer that uploads later sees the newer committed replace in its own listing.
Manifests of newer transfers are read only when the listing shows newer files (runs overlapping).
Partitions are committed, then settled, `PARTITION_WORKERS` at a time: a year's backfill makes 366 manifest
puts and 366 listings, whose round trips would otherwise add up.
One case the listing cannot see: a newer replace that found *no* rows in the partition leaves no data file,
so an older transfer that uploads after that replace's listing keeps its files until the next replace of the
partition. Its rows are versions that the newer snapshot holds in later partitions (updated or deleted
since), so `<model>_current` is unaffected; only the history table shows them in this partition meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from zuora_assets.lake import layout
from zuora_assets.lake.manifest import Manifest, ManifestFile, read_manifest, read_manifests, write_manifest
from zuora_assets.lake.storage import KeyExists, ObjectInfo, StorageError
from zuora_assets.lake.upload import PartitionTransfer, TransferSpec, Uploader

PARTITION_WORKERS = 8  # partitions committed (and settled) at once: their requests overlap, not their data
T = TypeVar("T")


@dataclass
class PartitionWrite:
    """What one transfer did in one partition."""

    dt: str
    transfer_ts: str
    files: list[ObjectInfo]
    rows: int
    bytes: int
    manifest_key: str
    mode: str
    deleted_keys: list[str] = field(default_factory=list)
    superseded_by: str | None = None  # the newer committed replace this transfer yielded to
    taken: list[str] = field(default_factory=list)  # timestamps other transfers held when this one tried them


def commit_all(spec: TransferSpec, uploader: Uploader, owned: tuple[str, ...]) -> list[PartitionWrite]:
    """Put each partition's manifest (several at once); if one fails, undo the partitions not committed and raise."""
    done, failure = _each(owned, lambda dt: _commit(spec, uploader, uploader.partitions[dt]), stop_on_failure=True)
    for dt in done:
        uploader.forget(dt)
    if failure is not None:
        uploader.rollback(failure)
        if done:
            failure.add_note(
                f"model {spec.model!r}: partitions {sorted(done)} were committed before the failure (their older "
                f"files remain until a rerun); nothing of the other {len(owned) - len(done)} remains"
            )
        raise failure
    return [done[dt] for dt in owned]


def _each(
    keys: tuple[str, ...], work: Callable[[str], T], *, stop_on_failure: bool
) -> tuple[dict[str, T], BaseException | None]:
    """`work(key)` for every key, `PARTITION_WORKERS` at a time: the results of those that succeeded and the
    first failure (in key order); with `stop_on_failure`, work not yet started when one fails is skipped."""
    results: dict[str, T] = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(max(1, min(PARTITION_WORKERS, len(keys))), thread_name_prefix="lake partition") as pool:
        futures: dict[str, Future[T]] = {key: pool.submit(work, key) for key in keys}
        for key, future in futures.items():
            try:
                results[key] = future.result()
            except CancelledError:
                continue
            except BaseException as err:  # noqa: BLE001 (re-raised by the caller once the others ended)
                if failure is None:
                    failure = err
                    for later in futures.values() if stop_on_failure else ():
                        later.cancel()
    return results, failure


def _commit(spec: TransferSpec, uploader: Uploader, partition: PartitionTransfer) -> PartitionWrite:
    """Put the manifest of one partition's transfer. For a partition without rows the manifest is also what
    takes the timestamp, so a taken second moves it to the next one."""
    while True:
        manifest = _manifest(spec, partition)
        key = layout.manifest_key(spec.folder, spec.model, partition.dt, partition.ts)
        uploader.attempted(key)
        try:
            write_manifest(spec.storage, spec.folder, manifest)
            uploader.keep(key)
            break
        except KeyExists:
            uploader.keep(key)
            if partition.files:
                raise StorageError(
                    f"model {spec.model!r}, dt={partition.dt}: another transfer of this model committed a "
                    f"partition without rows under the same second {partition.ts}; this transfer's files are "
                    "removed and the run is retried (a new run takes a new snapshot)"
                ) from None
            uploader.next_second(partition)
    return PartitionWrite(
        dt=partition.dt,
        transfer_ts=partition.ts,
        files=list(partition.files),
        rows=manifest.rows,
        bytes=manifest.bytes,
        manifest_key=key,
        mode=spec.mode,
        taken=list(partition.taken),
    )


def _manifest(spec: TransferSpec, partition: PartitionTransfer) -> Manifest:
    files = tuple(
        ManifestFile(f.key, rows, f.size, f.sha256 or "")
        for f, rows in zip(partition.files, partition.file_rows, strict=True)
    )
    return Manifest(
        model=spec.model,
        dt=partition.dt,
        transfer_ts=partition.ts,
        mode=spec.mode,
        window_start=spec.window[0],
        window_end=spec.window[1],
        rows=sum(partition.file_rows),
        bytes=sum(f.size for f in partition.files),
        files=files,
        schema=tuple((f.name, str(f.type)) for f in spec.file_schema),
        run_id=spec.run_id,
        detected_by=spec.detected_by,
    )


def settle(spec: TransferSpec, write: PartitionWrite) -> None:
    """After `write` is committed: yield to a newer committed replace, or (replace) delete older files."""
    prefix = layout.partition_prefix(spec.folder, spec.model, write.dt)
    by_ts: dict[str, list[str]] = {}
    for obj in spec.storage.list(prefix):
        parsed = layout.parse_data_key(obj.key)
        if parsed is not None and "/" not in obj.key[len(prefix) :]:
            by_ts.setdefault(parsed[1], []).append(obj.key)
    newer = _newer_replace(spec, write, sorted((ts for ts in by_ts if ts > write.transfer_ts), reverse=True))
    if newer is not None and spec.detected_by is None:
        spec.storage.delete([*(f.key for f in write.files), write.manifest_key])
        write.superseded_by = newer
        return
    if write.mode == "replace":
        kept = _detected(spec, write.dt, [ts for ts in by_ts if ts < write.transfer_ts])
        older = [key for ts, keys in sorted(by_ts.items()) if ts < write.transfer_ts and ts not in kept for key in keys]
        if older:
            spec.storage.delete(older)
        write.deleted_keys = older


def _newer_replace(spec: TransferSpec, write: PartitionWrite, newer: list[str]) -> str | None:
    """The newest of the `newer` transfers that committed as a replace, if any."""
    for ts in newer:
        manifest = read_manifest(spec.storage, spec.folder, spec.model, write.dt, ts)
        if manifest is not None and manifest.mode == "replace":
            return ts
    return None


def _detected(spec: TransferSpec, dt: str, older: list[str]) -> set[str]:
    """The `older` transfers of partition `dt` whose rows a comparison found (their manifest says
    `detected_by`): a replace keeps them, since the source no longer exports those rows (e.g. tombstones of
    records deleted beyond its retention). One manifest read per older transfer, in parallel."""
    if not older:
        return set()
    keys = [layout.manifest_key(spec.folder, spec.model, dt, ts) for ts in older]
    return {m.transfer_ts for m in read_manifests(spec.storage, spec.folder, spec.model, keys=keys) if m.detected_by}


def settle_all(spec: TransferSpec, writes: list[PartitionWrite]) -> None:
    """Settle every committed partition (several at once); a failure names the partitions left with duplicate rows."""
    by_dt = {w.dt: w for w in writes}
    done, failure = _each(tuple(by_dt), lambda dt: settle(spec, by_dt[dt]), stop_on_failure=False)
    if failure is None:
        return
    left = [dt for dt in by_dt if dt not in done]
    failure.add_note(
        f"model {spec.model!r}: the new transfer is committed in {len(writes)} partition(s), but older files of "
        f"{len(left)} of them ({', '.join(left[:5])}{', ...' if len(left) > 5 else ''}) may remain, so they can "
        "hold duplicate rows until a replace of them succeeds"
    )
    raise failure
