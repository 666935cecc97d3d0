"""An S3 bucket as the lake (`S3Storage`), through one boto3 S3 client; AWS errors become lake errors.

A refused permission (AccessDenied, including the per-key errors of DeleteObjects) becomes `PermissionDenied`
naming the IAM action and resource, which the sync never retries.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from botocore.exceptions import BotoCoreError, ClientError

from zuora_assets.common.aws_errors import DENIED_CODES, error_code, error_code_message, hint, http_status
from zuora_assets.common.failures import InvalidValue
from zuora_assets.common.retry import Backoff, retry
from zuora_assets.lake.storage import (
    KeyChanged,
    KeyExists,
    KeyNotFound,
    ObjectInfo,
    PermissionDenied,
    Storage,
    StorageError,
    copy_hashing,
    failed_keys_error,
)

DELETE_BATCH = 1000
_CONFLICT_RETRIES = 5
_CONFLICT_BACKOFF = Backoff(base=0.1, cap=2.0)  # 409 ConditionalRequestConflict: another conditional put at once
READ_TIMEOUT_SECONDS = 60.0  # pyarrow's S3 reads (arrow_filesystem): seconds a request may stall
# The IAM action each S3 API call needs (DeleteObjects is authorized per key as s3:DeleteObject).
IAM_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "DeleteObjects": "s3:DeleteObject",
}



class S3Storage(Storage):
    """An S3 bucket as the lake, through a boto3 S3 client (already in the bucket's region).

    Uploads are single `PutObject` requests (up to 5 GB) with `IfNoneMatch='*'` (or `IfMatch=<ETag>` to
    replace one version), a SHA-256 checksum that S3 verifies, and server-side encryption: SSE-S3
    (`sse="AES256"`, the default), SSE-KMS (`sse="aws:kms"`, optionally `kms_key_id`), or the bucket's
    default (`sse=None`). `credentials` (the session's `get_credentials`, refreshing) give pyarrow access
    in `arrow_filesystem`; `sleep` waits between retries of a conflicting conditional put.
    """

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        *,
        sse: str | None = "AES256",
        kms_key_id: str | None = None,
        credentials: Callable[[], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if sse not in ("AES256", "aws:kms", None):
            raise InvalidValue(
                f"sse={sse!r} is not supported: use 'AES256' (SSE-S3), 'aws:kms' (SSE-KMS) or None"
            )
        if kms_key_id and sse != "aws:kms":
            raise InvalidValue(
                f"kms_key_id is set but sse={sse!r}: set sse='aws:kms' to encrypt with that KMS key"
            )
        self.client = s3_client
        self.bucket = bucket
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.credentials = credentials
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r})"

    def _arn(self, key: str) -> str:
        return f"arn:aws:s3:::{self.bucket}" + (f"/{key}*" if key.endswith("/") or not key else f"/{key}")

    def _error(self, operation: str, key: str, err: Exception) -> StorageError:
        if isinstance(err, ClientError):
            code, message = error_code_message(err)
            head = f"S3 {operation} on {self.uri(key)} failed: {code or '?'} {message.rstrip('.')}"
            if code in DENIED_CODES:
                return self._denied(operation, head, key)
            return StorageError(f"{head}. What to do: {hint(code)}")
        endpoint = self.client.meta.endpoint_url
        return StorageError(
            f"S3 {operation} on {self.uri(key)} failed: {err}. Check that {endpoint} can be reached"
        )

    def _denied(self, operation: str, head: str, key: str) -> PermissionDenied:
        action = IAM_ACTIONS.get(operation, f"s3:{operation}")
        resource = f"arn:aws:s3:::{self.bucket}" if action == "s3:ListBucket" else self._arn(key)
        return PermissionDenied(
            f"{head}. The AWS identity in use lacks {action} on {resource}: grant it (the seed's IAM policy "
            "does; `python -m zuora_assets iam-policy` prints it). Retrying cannot help, so the sync stops here",
            action,
        )

    def _sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.sse} if self.sse else {}
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def put_file(self, key: str, path: Path | str, *, if_none_match: bool = True) -> ObjectInfo:
        with open(path, "rb") as body:
            return self._put(key, body, {"IfNoneMatch": "*"} if if_none_match else {})

    def put_bytes(
        self, key: str, data: bytes, *, if_none_match: bool = True, if_match: str | None = None
    ) -> ObjectInfo:
        if if_match is not None:
            condition = {"IfMatch": if_match}
        else:
            condition = {"IfNoneMatch": "*"} if if_none_match else {}
        return self._put(key, io.BytesIO(data), condition)

    def _put(self, key: str, body: IO[bytes], condition: dict[str, str]) -> ObjectInfo:
        size, sha256 = copy_hashing(body, None)
        args = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256)).decode(),
            **self._sse_args(),
            **condition,
        }

        def put() -> ObjectInfo:
            body.seek(0)
            return ObjectInfo(key, size, sha256, version=self.client.put_object(**args).get("ETag"))

        try:
            return retry(put, attempts=_CONFLICT_RETRIES, backoff=_CONFLICT_BACKOFF, retryable=_is_conflict,
                         sleep=self.sleep, what=f"S3 PutObject {self.uri(key)}")
        except ClientError as err:
            self._raise_condition_failure(err, key, condition)
            raise self._error("PutObject", key, err) from err
        except BotoCoreError as err:
            raise self._error("PutObject", key, err) from err

    def _raise_condition_failure(self, err: ClientError, key: str, condition: dict[str, str]) -> None:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 412 and "IfNoneMatch" in condition:
            raise KeyExists(
                f"{self.uri(key)} already exists; lake objects are never replaced. Use a new key"
            ) from None
        if "IfMatch" in condition and (status == 412 or status == 404):
            raise KeyChanged(f"{self.uri(key)} changed since it was read (or is gone); read it again") from None

    def get_bytes(self, key: str) -> bytes:
        return self.get_versioned(key)[0]

    def get_versioned(self, key: str) -> tuple[bytes, str]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read(), response["ETag"]
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
            raise self._error("ListObjectsV2", prefix, err) from err
        return sorted(found, key=lambda o: o.key)

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(dict.fromkeys(keys))
        failures: dict[str, str] = {}
        denied: list[str] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except ClientError as err:
                if error_code(err) in DENIED_CODES:
                    raise self._error("DeleteObjects", batch[0], err) from err
                failures.update(dict.fromkeys(batch, str(err)))
                continue
            except BotoCoreError as err:
                failures.update(dict.fromkeys(batch, str(err)))
                continue
            for error in response.get("Errors", []):  # per-key failures do not raise
                failures[error["Key"]] = f"{error.get('Code')} {error.get('Message', '')}".strip()
                if error.get("Code") in DENIED_CODES:
                    denied.append(error["Key"])
        if denied:
            shown = ", ".join(denied[:3]) + (f" and {len(denied) - 3} more" if len(denied) > 3 else "")
            head = f"S3 DeleteObjects in s3://{self.bucket} was denied for {len(denied)} object(s) ({shown})"
            raise self._denied("DeleteObjects", head, _common_prefix(denied))
        if failures:
            raise failed_keys_error(f"delete from s3://{self.bucket} (needs s3:DeleteObject)", failures)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow S3 filesystem with the client's current credentials, region and endpoint.

        The credentials are a snapshot: call again for a long read with expiring (role) credentials.
        """
        credentials = self.credentials() if self.credentials else None
        if credentials is None:
            raise StorageError(
                f"S3Storage for {self.uri('')} was given no credentials (`credentials=session.get_credentials`); "
                "pyarrow needs them to read the lake: configure AWS credentials"
            )
        frozen = credentials.get_frozen_credentials()
        options: dict[str, Any] = {
            "access_key": frozen.access_key,
            "secret_key": frozen.secret_key,
            "session_token": frozen.token,
            "region": self.client.meta.region_name,
            # The AWS SDK's default (3 s) aborts a read that stalls that long ("Less than 1 bytes/sec transferred
            # the last 3 seconds"), which a busy endpoint does: a read of the lake failed that way under load.
            "request_timeout": READ_TIMEOUT_SECONDS,
        }
        endpoint = urlparse(self.client.meta.endpoint_url)
        if not (endpoint.hostname or "").endswith("amazonaws.com"):
            options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
        return pafs.S3FileSystem(**options), self.bucket


def _is_conflict(error: BaseException) -> bool:
    return isinstance(error, ClientError) and http_status(error) == 409


def _common_prefix(keys: list[str]) -> str:
    """The folder (ending in '/') that all `keys` share, or the key itself when there is one."""
    if len(keys) == 1:
        return keys[0]
    first, last = min(keys), max(keys)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[: first.rfind("/", 0, i + 1) + 1]
