"""Storage semantics, identical on a local folder and on S3 (moto): conditional puts, listing, deletes, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from zuora_assets.lake import s3 as s3_module
from zuora_assets.lake.local import LocalStorage
from zuora_assets.lake.s3 import S3Storage
from zuora_assets.lake.storage import (
    KeyChanged,
    KeyExists,
    KeyNotFound,
    PermissionDenied,
    Storage,
    StorageError,
)
from zuora_assets_tests.lake_support import BUCKET, storage_fixture  # noqa: F401 (the `storage` fixture)


def test_put_get_list_and_uri(storage: Storage) -> None:
    info = storage.put_bytes("zuora/m/dt=2026-11-01/0_20261101000000.parquet", b"abc")
    storage.put_bytes("zuora/m/dt=2026-11-02/0_20261101000000.parquet", b"de")
    storage.put_bytes("zuora/mm/x.json", b"{}")

    assert (
        info.size == 3 and info.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert storage.get_bytes(info.key) == b"abc"
    assert [(o.key, o.size) for o in storage.list("zuora/m/")] == [
        ("zuora/m/dt=2026-11-01/0_20261101000000.parquet", 3),
        ("zuora/m/dt=2026-11-02/0_20261101000000.parquet", 2),
    ]
    assert [o.key for o in storage.list("zuora/m")] == [o.key for o in storage.list("zuora/")]
    assert storage.list("nothing/") == []
    assert storage.uri(info.key).endswith("zuora/m/dt=2026-11-01/0_20261101000000.parquet")


def test_put_file(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 3_000_000)
    info = storage.put_file("a/b.bin", source)
    assert (info.size, storage.get_bytes("a/b.bin")) == (3_000_000, b"x" * 3_000_000)


def test_conditional_put_never_replaces(storage: Storage) -> None:
    storage.put_bytes("k/one", b"first")
    with pytest.raises(KeyExists, match="k/one"):
        storage.put_bytes("k/one", b"second")
    assert storage.get_bytes("k/one") == b"first"
    storage.put_bytes("k/one", b"third", if_none_match=False)
    assert storage.get_bytes("k/one") == b"third"


def test_missing_key(storage: Storage) -> None:
    with pytest.raises(KeyNotFound, match="no/such"):
        storage.get_bytes("no/such")
    storage.delete(["no/such"])  # deleting nothing is fine


def test_delete_in_batches(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 2)
    keys = [f"d/{i}" for i in range(5)]
    for key in keys:
        storage.put_bytes(key, b"1")
    storage.put_bytes("keep", b"1")
    storage.delete(keys)
    assert [o.key for o in storage.list("")] == ["keep"]


def test_local_delete_names_every_failed_key(tmp_path: Path) -> None:
    lake = LocalStorage(tmp_path)
    lake.put_bytes("a/b/c", b"1")
    lake.put_bytes("x", b"1")
    with pytest.raises(StorageError) as caught:
        lake.delete(["a/b", "x", "a"])  # folders cannot be deleted as objects
    assert str(tmp_path) in str(
        caught.value
    ) and "2 object(s): a: Is a directory; a/b: Is a directory" in str(caught.value)
    assert [o.key for o in lake.list("")] == ["a/b/c"]


def test_local_put_leaves_no_temp_files_and_prunes_empty_folders(tmp_path: Path) -> None:
    lake = LocalStorage(tmp_path)
    lake.put_bytes("m/dt=2026-11-01/0_20261101000000.parquet", b"1")
    lake.delete(["m/dt=2026-11-01/0_20261101000000.parquet"])
    assert not (tmp_path / "m").exists()
    assert list((tmp_path / LocalStorage.TMP_DIR).iterdir()) == []
    with pytest.raises(StorageError, match="not a valid lake key"):
        lake.put_bytes("../escape", b"1")


class ErrorsForSomeKeys:
    """A real S3 client whose DeleteObjects answers a per-key error for keys containing 'locked' (as S3 can)."""

    def __init__(self, client, code: str = "AccessDenied"):
        self._client, self.code = client, code

    def __getattr__(self, name):
        return getattr(self._client, name)

    def delete_objects(self, Bucket, Delete):  # noqa: N803 (boto3 argument names)
        locked = [o for o in Delete["Objects"] if "locked" in o["Key"]]
        rest = [o for o in Delete["Objects"] if "locked" not in o["Key"]]
        response = self._client.delete_objects(Bucket=Bucket, Delete={**Delete, "Objects": rest})
        errors = [{"Key": o["Key"], "Code": self.code, "Message": "went wrong"} for o in locked]
        return {**response, "Errors": errors}


def test_s3_delete_denied_for_some_keys_is_a_permission_error_naming_the_action(moto) -> None:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    lake = S3Storage(ErrorsForSomeKeys(client), BUCKET)
    for key in ("a/locked-1", "a/free", "a/locked-2"):
        lake.put_bytes(key, b"1")
    with pytest.raises(PermissionDenied) as caught:
        lake.delete(["a/locked-1", "a/free", "a/locked-2"])
    message = str(caught.value)
    assert caught.value.action == "s3:DeleteObject"
    assert "a/locked-1" in message and "a/locked-2" in message and "a/free" not in message
    assert "lacks s3:DeleteObject on arn:aws:s3:::lake-test/a/" in message and "cannot help" in message
    assert [o.key for o in lake.list("a/")] == ["a/locked-1", "a/locked-2"]


def test_s3_delete_reports_every_key_that_failed_otherwise(moto) -> None:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    lake = S3Storage(ErrorsForSomeKeys(client, code="InternalError"), BUCKET)
    for key in ("a/locked-1", "a/free"):
        lake.put_bytes(key, b"1")
    with pytest.raises(StorageError) as caught:
        lake.delete(["a/locked-1", "a/free"])
    assert not isinstance(caught.value, PermissionDenied)
    assert "a/locked-1: InternalError" in str(caught.value) and "a/free" not in str(caught.value)


class ConflictOnce:
    """A real S3 client whose first PutObject answers 409 ConditionalRequestConflict."""

    def __init__(self, client):
        self._client, self.calls = client, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_object(self, **kwargs):
        self.calls += 1
        if self.calls == 1:
            response = {
                "Error": {"Code": "ConditionalRequestConflict"},
                "ResponseMetadata": {"HTTPStatusCode": 409},
            }
            raise ClientError(response, "PutObject")
        return self._client.put_object(**kwargs)


def test_s3_retries_conditional_request_conflict(moto) -> None:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    flaky = ConflictOnce(client)
    S3Storage(flaky, BUCKET).put_bytes("k", b"data")
    assert flaky.calls == 2 and client.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"data"


def test_s3_server_side_encryption(moto) -> None:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    S3Storage(client, BUCKET).put_bytes("sse-s3", b"1")
    S3Storage(client, BUCKET, sse="aws:kms", kms_key_id="alias/lake").put_bytes("sse-kms", b"1")
    assert client.head_object(Bucket=BUCKET, Key="sse-s3")["ServerSideEncryption"] == "AES256"
    kms = client.head_object(Bucket=BUCKET, Key="sse-kms")
    assert (kms["ServerSideEncryption"], kms["SSEKMSKeyId"]) == ("aws:kms", "alias/lake")
    with pytest.raises(ValueError, match="sse='aws:kms'"):
        S3Storage(client, BUCKET, kms_key_id="alias/lake")


def test_s3_errors_say_where_and_what_to_do(moto) -> None:
    client = moto.client("s3")
    client.create_bucket(Bucket=BUCKET)
    missing = S3Storage(client, "no-such-bucket")
    with pytest.raises(StorageError) as caught:
        missing.put_bytes("zuora/k", b"1")
    assert "s3://no-such-bucket/zuora/k" in str(caught.value) and "NoSuchBucket" in str(caught.value)
    assert "check AWS_BUCKET" in str(caught.value)

    moto.set_iam_enforcement(True)
    with pytest.raises(StorageError) as caught:
        S3Storage(client, BUCKET).list("zuora/")
    assert "ListObjectsV2" in str(caught.value) and "check AWS_ACCESS_KEY_ID" in str(caught.value)


def test_compare_and_replace_replaces_only_the_version_read(storage: Storage) -> None:
    with pytest.raises(KeyNotFound):
        storage.get_versioned("state/m.json")
    created = storage.put_bytes("state/m.json", b"one")
    data, version = storage.get_versioned("state/m.json")
    assert (data, version) == (b"one", created.version)

    replaced = storage.put_bytes("state/m.json", b"two", if_match=version)
    with pytest.raises(KeyChanged, match="state/m.json"):  # a second writer with the old version loses
        storage.put_bytes("state/m.json", b"stale", if_match=version)
    assert storage.get_versioned("state/m.json") == (b"two", replaced.version)
    with pytest.raises(KeyChanged):
        storage.put_bytes("state/none.json", b"x", if_match=version)


def test_arrow_filesystem_reads_what_was_put(storage: Storage) -> None:
    storage.put_bytes("f/x.bin", b"hello")
    filesystem, base = storage.arrow_filesystem()
    with filesystem.open_input_file(f"{base}/f/x.bin") as f:
        assert f.read() == b"hello"
