"""Object storage for the lake: one interface, a local folder (`LocalStorage`) and an S3 bucket (`S3Storage`).

Both give the same semantics: keys are `/`-separated strings; a put with `if_none_match` never replaces an
existing object (it raises `KeyExists`); a put is all-or-nothing (readers never see a partial object);
`list` is by key prefix; `delete` reports every key it could not delete.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from botocore.exceptions import BotoCoreError, ClientError

_CHUNK = 1024 * 1024
_DELETE_BATCH = 1000
_CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key, its size in bytes and, when this process wrote it, its SHA-256 (hex)."""

    key: str
    size: int
    sha256: str | None = None


class StorageError(Exception):
    """A storage operation failed; the message names the operation, the key(s) and what to do."""


class KeyExists(StorageError):
    """A conditional put found the key already present (S3 412 PreconditionFailed, or a local file)."""


class KeyNotFound(StorageError):
    """A read found no object at the key."""


class Storage(ABC):
    """Where the lake's objects live. Implementations: `LocalStorage`, `S3Storage`."""

    @abstractmethod
    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        """Store the file at `path` as `key`; with `if_none_match`, raise `KeyExists` if `key` exists."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, if_none_match: bool = True) -> ObjectInfo:
        """Store `data` as `key`; with `if_none_match`, raise `KeyExists` if `key` exists."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The content of `key`; raise `KeyNotFound` if there is none."""

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


def _copy_hashing(src: IO[bytes], dst: IO[bytes] | None) -> tuple[int, str]:
    """Copy `src` to `dst` (or just read it when `dst` is None); return (size, SHA-256 hex)."""
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return size, digest.hexdigest()


def _failed_keys_error(action: str, failures: dict[str, str]) -> StorageError:
    listed = "; ".join(f"{key}: {why}" for key, why in sorted(failures.items()))
    return StorageError(
        f"could not {action} {len(failures)} object(s): {listed}. The other objects were deleted; fix the cause "
        "(permissions, locks) and rerun"
    )


class LocalStorage(Storage):
    """A local folder as the lake: key `a/b/c` is the file `<root>/a/b/c`.

    Puts copy into `<root>/.lake-tmp/` first and then hard-link the complete file into place, which fails if
    the key exists: atomic and never replacing (the local equivalent of S3's `IfNoneMatch='*'`).
    """

    TMP_DIR = ".lake-tmp"

    def __init__(self, root: Path | str):
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        if not key or any(s in ("", ".", "..") for s in segments) or segments[0] == self.TMP_DIR:
            raise StorageError(
                f"key {key!r} is not a valid lake key: use '/'-separated names without empty, '.' or '..' parts"
            )
        return self.root.joinpath(*segments)

    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        with open(path, "rb") as src:
            return self._put(key, src, if_none_match)

    def put_bytes(self, key: str, data: bytes, *, if_none_match: bool = True) -> ObjectInfo:
        return self._put(key, io.BytesIO(data), if_none_match)

    def _put(self, key: str, src: IO[bytes], if_none_match: bool) -> ObjectInfo:
        dest = self._path(key)
        tmp_dir = self.root / self.TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha256 = _copy_hashing(src, out)
            os.chmod(tmp, 0o644)
            self._publish(Path(tmp), dest, key, if_none_match)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return ObjectInfo(key, size, sha256)

    def _publish(self, tmp: Path, dest: Path, key: str, if_none_match: bool) -> None:
        """Move the complete temp file to `dest`; retry when a concurrent delete pruned the empty folder."""
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
            raise _failed_keys_error(f"delete from {self.root}", failures)

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


def _may_hold(folder_key: str, prefix: str) -> bool:
    """Whether keys under `folder_key` (ending in '/') can start with `prefix`."""
    return folder_key.startswith(prefix) or prefix.startswith(folder_key)


_S3_HINTS = {
    "AccessDenied": "grant the lake's role s3:{action} on arn:aws:s3:::{bucket}/{key}",
    "NoSuchBucket": "check the bucket setting: bucket {bucket!r} does not exist in this account/region",
    "InvalidAccessKeyId": "check the AWS credentials (access key unknown)",
    "SignatureDoesNotMatch": "check the AWS credentials (secret key wrong)",
    "ExpiredToken": "the AWS session expired; use refreshing role credentials",
    "PermanentRedirect": "the bucket is in another region: build the S3 client in the bucket's region",
    "AuthorizationHeaderMalformed": "the bucket is in another region: build the S3 client in the bucket's region",
}


class S3Storage(Storage):
    """An S3 bucket as the lake, through a boto3 S3 client (already in the bucket's region).

    Uploads are single `PutObject` requests (up to 5 GB) with `IfNoneMatch='*'`, a SHA-256 checksum that S3
    verifies, and server-side encryption: SSE-S3 (`sse="AES256"`, the default), SSE-KMS (`sse="aws:kms"`,
    optionally `kms_key_id`), or the bucket's default (`sse=None`).
    """

    def __init__(
        self, s3_client: Any, bucket: str, *, sse: str | None = "AES256", kms_key_id: str | None = None
    ):
        if sse not in ("AES256", "aws:kms", None):
            raise ValueError(
                f"sse={sse!r} is not supported: use 'AES256' (SSE-S3), 'aws:kms' (SSE-KMS) or None"
            )
        if kms_key_id and sse != "aws:kms":
            raise ValueError(
                f"kms_key_id is set but sse={sse!r}: set sse='aws:kms' to encrypt with that KMS key"
            )
        self.client = s3_client
        self.bucket = bucket
        self.sse = sse
        self.kms_key_id = kms_key_id

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r})"

    def _error(self, action: str, key: str, err: Exception) -> StorageError:
        if isinstance(err, ClientError):
            code = err.response.get("Error", {}).get("Code", "?")
            message = err.response.get("Error", {}).get("Message", "").rstrip(".")
            hint = _S3_HINTS.get(code, "retry if the error is transient, otherwise fix its cause").format(
                action=action, bucket=self.bucket, key=key
            )
            return StorageError(
                f"S3 {action} on {self.uri(key)} failed: {code} {message}. What to do: {hint}"
            )
        endpoint = self.client.meta.endpoint_url
        return StorageError(
            f"S3 {action} on {self.uri(key)} failed: {err}. Check that {endpoint} can be reached"
        )

    def _sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse} if self.sse else {}
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        with open(path, "rb") as body:
            return self._put(key, body, if_none_match)

    def put_bytes(self, key: str, data: bytes, *, if_none_match: bool = True) -> ObjectInfo:
        return self._put(key, io.BytesIO(data), if_none_match)

    def _put(self, key: str, body: IO[bytes], if_none_match: bool) -> ObjectInfo:
        size, sha256 = _copy_hashing(body, None)
        args = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256)).decode(),
            **self._sse_args(),
        }
        if if_none_match:
            args["IfNoneMatch"] = "*"
        for attempt in range(_CONFLICT_RETRIES):
            body.seek(0)
            try:
                self.client.put_object(**args)
                return ObjectInfo(key, size, sha256)
            except ClientError as err:
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 412:
                    raise KeyExists(
                        f"{self.uri(key)} already exists; lake objects are never replaced. Use a new key"
                    ) from None
                if status != 409 or attempt == _CONFLICT_RETRIES - 1:  # 409: ConditionalRequestConflict
                    raise self._error("PutObject", key, err) from err
            except BotoCoreError as err:
                raise self._error("PutObject", key, err) from err
            time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyNotFound(f"no object at {self.uri(key)}; check the folder and model names") from None
            raise self._error("GetObject", key, err) from err
        except BotoCoreError as err:
            raise self._error("GetObject", key, err) from err

    def list(self, prefix: str) -> list[ObjectInfo]:
        found = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                found.extend(ObjectInfo(o["Key"], o["Size"]) for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as err:
            raise self._error("ListBucket", prefix, err) from err
        return sorted(found, key=lambda o: o.key)

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(dict.fromkeys(keys))
        failures: dict[str, str] = {}
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except (ClientError, BotoCoreError) as err:
                failures.update(dict.fromkeys(batch, str(err)))
                continue
            for error in response.get("Errors", []):  # per-key failures do not raise
                failures[error["Key"]] = f"{error.get('Code')} {error.get('Message', '')}".strip()
        if failures:
            raise _failed_keys_error(f"delete from s3://{self.bucket} (needs s3:DeleteObject)", failures)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow S3 filesystem with the client's current credentials, region and endpoint.

        The credentials are a snapshot: call again for a long read with expiring (role) credentials.
        """
        credentials = self.client._get_credentials()  # botocore has no public accessor
        if credentials is None:
            raise StorageError(
                f"the S3 client for {self.uri('')} has no credentials; configure AWS credentials"
            )
        frozen = credentials.get_frozen_credentials()
        options: dict[str, Any] = {
            "access_key": frozen.access_key,
            "secret_key": frozen.secret_key,
            "session_token": frozen.token,
            "region": self.client.meta.region_name,
        }
        endpoint = urlparse(self.client.meta.endpoint_url)
        if not (endpoint.hostname or "").endswith("amazonaws.com"):
            options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
        return pafs.S3FileSystem(**options), self.bucket
