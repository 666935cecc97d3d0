"""The lake's health file, `<folder>/_zuora/health.json`: the latest summary of every model, merged by
compare-and-replace so a report of some models keeps the others."""

from __future__ import annotations

import json
from collections.abc import Sequence

from zuora_assets.lake import layout
from zuora_assets.lake.health import ModelHealth
from zuora_assets.lake.storage import KeyChanged, KeyExists, KeyNotFound, Storage, StorageError

REPORT_FORMAT = 1
_REPORT_ATTEMPTS = 10


def report_key(folder: str) -> str:
    """`<folder>/_zuora/health.json`: the latest health summary of every model."""
    return layout.join(folder, layout.BOOKKEEPING_DIR, "health.json")


def write_report(storage: Storage, folder: str, reports: Sequence[ModelHealth]) -> str:
    """Put the summaries of `reports` into the health file (other models' entries stay), compare-and-replace;
    return its key."""
    key = report_key(layout.check_folder(folder))
    for _ in range(_REPORT_ATTEMPTS):
        try:
            data, version = storage.get_versioned(key)
            models = json.loads(data).get("models", {})
        except KeyNotFound:
            version, models = None, {}
        except ValueError:  # unreadable: replaced whole
            version, models = _version_of(storage, key), {}
        models.update({r.model: r.summary() for r in reports})
        body = {"format": REPORT_FORMAT, "models": dict(sorted(models.items()))}
        try:
            storage.put_bytes(key, json.dumps(body, indent=1).encode(), if_match=version, if_none_match=True)
            return key
        except (KeyChanged, KeyExists):
            continue  # another report wrote it meanwhile: merge again
    raise StorageError(
        f"{storage.uri(key)} changed under every one of {_REPORT_ATTEMPTS} writes; run the report again"
    )


def read_report(storage: Storage, folder: str) -> dict:
    """The health file's model summaries (model -> summary), empty when there is none yet."""
    try:
        return json.loads(storage.get_bytes(report_key(layout.check_folder(folder))))["models"]
    except KeyNotFound:
        return {}


def _version_of(storage: Storage, key: str) -> str | None:
    try:
        return storage.get_versioned(key)[1]
    except KeyNotFound:
        return None
