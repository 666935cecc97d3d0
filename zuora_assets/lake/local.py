"""A local folder as the lake (`LocalStorage`): the embedded default's storage, with S3's semantics."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pyarrow.fs as pafs

from zuora_assets.lake import tempfiles
from zuora_assets.lake.storage import (
    InvalidKey,
    KeyChanged,
    KeyExists,
    KeyNotFound,
    ObjectInfo,
    Storage,
    copy_hashing,
    failed_keys_error,
)


class LocalStorage(Storage):
    """A local folder as the lake: key `a/b/c` is the file `<root>/a/b/c`.

    Puts copy into `<root>/.lake-tmp/` first and then hard-link the complete file into place, which fails if
    the key exists: atomic and never replacing (the local equivalent of S3's `IfNoneMatch='*'`). A put with
    `if_match` (the content's SHA-256, from `get_versioned`) compares and replaces under a lock file.
    """

    TMP_DIR = ".lake-tmp"
    _PART = ".part"
    _LOCK = "replace.lock"

    def __init__(self, root: Path | str):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        if not key or any(s in ("", ".", "..") for s in segments) or segments[0] == self.TMP_DIR:
            raise InvalidKey(
                f"key {key!r} is not a valid lake key: use '/'-separated names without empty, '.' or '..' parts"
            )
        return self.root.joinpath(*segments)

    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        with open(path, "rb") as src:
            return self._put(key, src, if_none_match)

    def put_bytes(
        self, key: str, data: bytes, *, if_none_match: bool = True, if_match: str | None = None
    ) -> ObjectInfo:
        if if_match is None:
            return self._put(key, io.BytesIO(data), if_none_match)
        with self._replace_lock():
            try:
                current = hashlib.sha256(self._path(key).read_bytes()).hexdigest()
            except FileNotFoundError:
                current = None
            if current != if_match:
                raise KeyChanged(f"{self.uri(key)} changed since it was read (or is gone); read it again")
            return self._put(key, io.BytesIO(data), if_none_match=False)

    @contextlib.contextmanager
    def _replace_lock(self) -> Iterator[None]:
        """One compare-and-replace at a time across processes (an flock on one file in the temp folder)."""
        tmp_dir = self.root / self.TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp_dir / self._LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _put(self, key: str, src: IO[bytes], if_none_match: bool) -> ObjectInfo:
        dest = self._path(key)
        tmp = tempfiles.locked_temp_file(self.root / self.TMP_DIR, prefix="put-", suffix=self._PART)
        try:
            with open(tmp.path, "wb") as out:
                size, sha256 = copy_hashing(src, out)
            os.chmod(tmp.path, 0o644)
            self._publish(tmp.path, dest, key, if_none_match)
        finally:
            tmp.release()
        return ObjectInfo(key, size, sha256, version=sha256)

    def _publish(self, tmp: Path, dest: Path, key: str, if_none_match: bool) -> None:
        """Put the complete temp file at `dest`; retry when a concurrent delete pruned the empty folder."""
        for attempt in range(3):
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                if not if_none_match:
                    os.replace(tmp, dest)
                    return
                try:
                    os.link(tmp, dest)
                except OSError as err:
                    if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                        raise
                    with open(tmp, "rb") as src, open(dest, "xb") as out:  # no hard links here
                        shutil.copyfileobj(src, out)
                return
            except FileExistsError:
                raise KeyExists(
                    f"{dest} already exists; lake objects are never replaced. Use a new key (a new transfer)"
                ) from None
            except FileNotFoundError:
                if attempt == 2:
                    raise

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(f"no object at {self.uri(key)}; check the folder and model names") from None

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def list(self, prefix: str) -> list[ObjectInfo]:
        start = self.root.joinpath(*prefix.split("/")[:-1])
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            rel = "" if rel == "." else rel + "/"
            dirnames[:] = sorted(d for d in dirnames if d != self.TMP_DIR and _may_hold(f"{rel}{d}/", prefix))
            for name in filenames:
                key = rel + name
                if key.startswith(prefix):
                    try:
                        found.append(ObjectInfo(key, os.stat(os.path.join(dirpath, name)).st_size))
                    except FileNotFoundError:  # deleted while listing
                        continue
        return sorted(found, key=lambda o: o.key)

    def delete(self, keys: Iterable[str]) -> None:
        failures = {}
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                failures[key] = err.strerror or str(err)
                continue
            self._prune_empty(path.parent)
        if failures:
            raise failed_keys_error(f"delete from {self.root}", failures)

    def _prune_empty(self, folder: Path) -> None:
        """Remove empty folders from `folder` up to (not including) the root; a non-empty one stops it."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), self.root.as_posix()

    def remove_stale_temp_files(self) -> list[str]:
        removed = tempfiles.remove_stale(self.root / self.TMP_DIR, suffix=self._PART)
        return [str(p) for p in removed]


def _may_hold(folder_key: str, prefix: str) -> bool:
    """Whether keys under `folder_key` (ending in '/') can start with `prefix`."""
    return folder_key.startswith(prefix) or prefix.startswith(folder_key)
