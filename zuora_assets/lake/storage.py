"""Object storage for the lake: the interface both backends keep, and the errors they raise.

Backends: `LocalStorage` (`lake/local.py`, a folder) and `S3Storage` (`lake/s3.py`, a bucket). The same
semantics on both: keys are `/`-separated strings; a put with `if_none_match` never replaces an existing
object (`KeyExists`); a put with `if_match=<version>` replaces exactly that version (`KeyChanged` otherwise);
a put is all-or-nothing (readers never see a partial object); `list` is by key prefix; `delete` reports every
key it could not delete; a refused permission is a `PermissionDenied` that names the missing action.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow.fs as pafs

from zuora_assets.common.failures import Permanent

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key, its size in bytes and, when this process wrote it, its SHA-256 (hex) and
    its version (what `put_bytes(if_match=...)` compares)."""

    key: str
    size: int
    sha256: str | None = None
    version: str | None = None


class StorageError(Exception):
    """A storage operation failed; the message names the operation, the key(s) and what to do."""


class KeyExists(StorageError):
    """A conditional put found the key already present (S3 412 PreconditionFailed, or a local file)."""


class KeyNotFound(StorageError):
    """A read found no object at the key."""


class KeyChanged(StorageError):
    """A put with `if_match` found another version at the key (or none): someone wrote it meanwhile."""


class InvalidKey(StorageError, Permanent):
    """A key breaks the lake's key rules: a bug in the caller, which no retry fixes."""


class PermissionDenied(StorageError, Permanent):
    """The storage refused an action for lack of permission; retrying cannot help, a policy must change.

    `action` is the IAM action that is missing (e.g. `s3:DeleteObject`).
    """

    def __init__(self, message: str, action: str):
        super().__init__(message)
        self.action = action


class Storage(ABC):
    """Where the lake's objects live. Implementations: `LocalStorage`, `S3Storage`."""

    @abstractmethod
    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        """Store the file at `path` as `key`; with `if_none_match`, raise `KeyExists` if `key` exists."""

    @abstractmethod
    def put_bytes(
        self, key: str, data: bytes, *, if_none_match: bool = True, if_match: str | None = None
    ) -> ObjectInfo:
        """Store `data` as `key`. With `if_match` (a version from `get_versioned`), replace only that version
        (else `KeyChanged`); otherwise, with `if_none_match`, raise `KeyExists` if `key` exists."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The content of `key`; raise `KeyNotFound` if there is none."""

    @abstractmethod
    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """The content of `key` and its version (for `put_bytes(if_match=...)`); `KeyNotFound` if none."""

    @abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with `prefix`, sorted by key."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete `keys` (a missing key is not an error); raise `StorageError` naming every key that failed."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where `key` is, for people and other tools: `s3://bucket/key` or a local path."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem over this storage and the base path that keys are relative to."""

    def remove_stale_temp_files(self) -> list[str]:
        """Remove temp files that killed writers left behind (never a live writer's); return what was removed."""
        return []


def copy_hashing(src: IO[bytes], dst: IO[bytes] | None) -> tuple[int, str]:
    """Copy `src` to `dst` (or just read it when `dst` is None); return (size, SHA-256 hex)."""
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return size, digest.hexdigest()


def failed_keys_error(action: str, failures: dict[str, str]) -> StorageError:
    """The error of a delete that left `failures` (key -> reason) behind."""
    listed = "; ".join(f"{key}: {why}" for key, why in sorted(failures.items()))
    return StorageError(
        f"could not {action} {len(failures)} object(s): {listed}. The other objects were deleted; fix the cause "
        "(permissions, locks) and rerun"
    )
