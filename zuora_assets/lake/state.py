"""The sync state of a model: one small object a sync reads to start, however long the lake's history.

`<folder>/_zuora/state/<model>.json` holds the high-water mark (the latest window end of committed
transfers), how far each recent partition is synced, the newest transfer, and the partitions whose replaced
manifests wait for the retention period. Every run merges its commits in after committing, by a
compare-and-replace loop (S3 `If-Match`), so concurrent runs never lose each other's progress. A state that is
missing (a new lake, or one written before this object existed) or unreadable is rebuilt from the manifests
once. A crash between a commit and the state update leaves the state behind: that only widens the next
window (an append re-reads from the older mark), never skips data, and the next run's update repairs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from zuora_assets.common.failures import InvalidValue
from zuora_assets.lake import layout
from zuora_assets.lake.manifest import read_manifests
from zuora_assets.lake.storage import KeyChanged, KeyExists, KeyNotFound, Storage, StorageError

STATE_FORMAT = 1
RECENT_DAYS = 7  # partitions whose synced-until moment is kept (the sensor needs today and yesterday)
_UPDATE_ATTEMPTS = 20


@dataclass(frozen=True)
class Commit:
    """One committed transfer of one partition, as the state needs it."""

    dt: str
    transfer_ts: str
    mode: str
    window_end: datetime
    replaced_older: bool = False  # a replace that deleted older transfers' files of this partition


@dataclass(frozen=True)
class SyncState:
    """What a sync of one model needs to start."""

    model: str
    high_water_mark: datetime | None = None
    synced_until: dict[str, datetime] = field(default_factory=dict)  # recent dt -> latest window end in it
    last_transfer: str | None = None
    replaced: dict[str, str] = field(default_factory=dict)  # dt -> replace ts whose older manifests await pruning
    version: str | None = field(default=None, compare=False)  # the stored object's version, for If-Match

    def partition_synced_until(self, dt: str) -> datetime | None:
        """How far partition `dt` is synced (None when this state does not know it)."""
        return self.synced_until.get(dt)

    def merged(self, commits: Iterable[Commit]) -> SyncState:
        """This state with `commits` added (max semantics: adding old news changes nothing)."""
        hwm, last = self.high_water_mark, self.last_transfer
        until, replaced = dict(self.synced_until), dict(self.replaced)
        for c in commits:
            reached = min(c.window_end, datetime.fromisoformat(c.dt).replace(tzinfo=UTC) + timedelta(days=1))
            hwm = c.window_end if hwm is None else max(hwm, c.window_end)
            until[c.dt] = reached if c.dt not in until else max(until[c.dt], reached)
            last = c.transfer_ts if last is None else max(last, c.transfer_ts)
            if c.replaced_older:
                replaced[c.dt] = max(replaced.get(c.dt, c.transfer_ts), c.transfer_ts)
        recent = sorted(until)[-RECENT_DAYS:]
        until = {dt: until[dt] for dt in recent}
        return replace(self, high_water_mark=hwm, synced_until=until, last_transfer=last, replaced=replaced)

    def without_replaced(self, dts: Iterable[str]) -> SyncState:
        """This state with the pruned partitions `dts` no longer waiting."""
        gone = set(dts)
        return replace(self, replaced={dt: ts for dt, ts in self.replaced.items() if dt not in gone})

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "model": self.model,
                "high_water_mark": _iso(self.high_water_mark),
                "synced_until": {dt: m.isoformat() for dt, m in sorted(self.synced_until.items())},
                "last_transfer": self.last_transfer,
                "replaced": dict(sorted(self.replaced.items())),
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, version: str | None = None) -> SyncState:
        """Parse a stored state; ValueError if it is not one this code reads."""
        try:
            body = json.loads(data)
            if body["format"] != STATE_FORMAT:
                raise InvalidValue(f"unknown state format {body['format']!r}")
            return cls(
                model=body["model"],
                high_water_mark=_moment(body["high_water_mark"]),
                synced_until={dt: datetime.fromisoformat(m) for dt, m in body["synced_until"].items()},
                last_transfer=body["last_transfer"],
                replaced=dict(body["replaced"]),
                version=version,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise InvalidValue(f"not a sync state ({err})") from err


def load_state(storage: Storage, folder: str, model: str, known: Iterable[Commit] = ()) -> SyncState:
    """The state of `model`: one read; rebuilt from the manifests (and stored) only when missing or unreadable.

    `known` are commits whose manifests need not be read for a rebuild (the caller just wrote them).
    """
    key = layout.state_key(folder, model)
    try:
        data, version = storage.get_versioned(key)
    except KeyNotFound:
        return _store_rebuilt(storage, folder, model, None, known)
    try:
        return SyncState.from_json(data, version)
    except ValueError:
        return _store_rebuilt(storage, folder, model, version, known)


def rebuild_state(storage: Storage, folder: str, model: str, known: Iterable[Commit] = ()) -> SyncState:
    """The state as the committed manifests of `model` describe it: one listing, and a read of every manifest
    not in `known` (the slow path, for a missing state)."""
    known_by_key = {layout.manifest_key(folder, model, c.dt, c.transfer_ts): c for c in known}
    try:
        listed = [o.key for o in storage.list(layout.manifests_prefix(folder, model)) if o.key.endswith(".json")]
        manifests = read_manifests(storage, folder, model, keys=[k for k in listed if k not in known_by_key])
    except StorageError as err:
        raise StorageError(f"cannot rebuild the sync state of model {model!r} from its manifests: {err}") from err
    commits = [*(known_by_key[k] for k in listed if k in known_by_key)]
    commits += [Commit(m.dt, m.transfer_ts, m.mode, m.window_end) for m in manifests if not m.detected_by]
    oldest: dict[str, str] = {}
    newest_replace: dict[str, str] = {}
    for c in commits:
        oldest[c.dt] = min(oldest.get(c.dt, c.transfer_ts), c.transfer_ts)
        if c.mode == "replace":
            newest_replace[c.dt] = max(newest_replace.get(c.dt, c.transfer_ts), c.transfer_ts)
    return SyncState(model).merged(
        replace(c, replaced_older=newest_replace.get(c.dt) == c.transfer_ts and oldest[c.dt] < c.transfer_ts)
        for c in commits
    )


def _store_rebuilt(
    storage: Storage, folder: str, model: str, version: str | None, known: Iterable[Commit]
) -> SyncState:
    state = rebuild_state(storage, folder, model, known)
    key = layout.state_key(folder, model)
    try:
        info = storage.put_bytes(key, state.to_json(), if_none_match=True, if_match=version)
    except (KeyExists, KeyChanged):
        return load_state(storage, folder, model)  # another run stored one meanwhile: use it
    return replace(state, version=info.version)


def record_commits(storage: Storage, folder: str, model: str, commits: list[Commit]) -> SyncState:
    """Merge `commits` into the stored state (compare-and-replace, retried on a concurrent update)."""
    return _update(storage, folder, model, lambda state: state.merged(commits), known=commits)


def forget_replaced(storage: Storage, folder: str, model: str, dts: list[str]) -> SyncState:
    """Remove the pruned partitions `dts` from the state's waiting list."""
    return _update(storage, folder, model, lambda state: state.without_replaced(dts))


def _update(storage: Storage, folder: str, model: str, change, known: Iterable[Commit] = ()) -> SyncState:
    key = layout.state_key(folder, model)
    for _ in range(_UPDATE_ATTEMPTS):
        current = load_state(storage, folder, model, known)
        wanted = change(current)
        if wanted == current:
            return current  # nothing new (e.g. the state was just rebuilt with these commits)
        try:
            storage.put_bytes(key, wanted.to_json(), if_match=current.version, if_none_match=True)
            return wanted
        except (KeyChanged, KeyExists):
            continue  # another run updated it between our read and write: merge again
    raise StorageError(
        f"model {model!r}: the sync state {storage.uri(key)} changed under every one of {_UPDATE_ATTEMPTS} "
        "updates; too many runs of this model at once. The data is committed; the next run records it"
    )


def read_start_date(storage: Storage, folder: str) -> date | None:
    """The first partition day pinned in this lake, or None."""
    try:
        return date.fromisoformat(json.loads(storage.get_bytes(layout.start_date_key(folder)))["start_date"])
    except KeyNotFound:
        return None
    except (ValueError, KeyError, TypeError) as err:
        raise StorageError(
            f"{storage.uri(layout.start_date_key(folder))} is not a pinned start date ({err}); delete it, and it "
            "is pinned again at the next sync (or set ZUORA_START_DATE)"
        ) from err


def pin_start_date(storage: Storage, folder: str, day: date) -> date:
    """Pin `day` as the lake's first partition day unless one is pinned already; return the pinned day."""
    try:
        storage.put_bytes(layout.start_date_key(folder), json.dumps({"start_date": day.isoformat()}).encode())
        return day
    except KeyExists:
        pinned = read_start_date(storage, folder)
        return pinned if pinned is not None else day


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None
