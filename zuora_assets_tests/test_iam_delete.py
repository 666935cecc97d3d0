"""A missing permission fails at once, names the action, and leaves at most one extra transfer (issue 10,
point 6): a replace under the seed's IAM policy without s3:DeleteObject, on moto with IAM enforcement on."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from zuora_assets.defs.resources import aws_clients
from zuora_assets.sim import SimConfig, Simulator
from zuora_assets_tests.iam_moto import (
    create_bucket,
    create_user,
    enforce_iam,
    exact_seed_policy,
    without_action,
)
from zuora_assets_tests.pipeline import day_window, last_days, materialize, moto_settings
from zuora_assets_tests.time_support import partition_transfers

BUCKET = "zuora-lake-nodelete"
SCHEMA = "zuora_nodelete"


@pytest.fixture
def restricted(moto, monkeypatch):
    """Settings for a user holding the seed's policy minus s3:DeleteObject (enforced once `enforce_iam` runs)."""
    user = create_user(moto, "no-delete", without_action(exact_seed_policy(BUCKET, SCHEMA), "s3:DeleteObject"))
    env = moto_settings(moto.endpoint, bucket=BUCKET, folder="zuora", schema=SCHEMA)
    env |= {"AWS_ACCESS_KEY_ID": user.access_key_id, "AWS_SECRET_ACCESS_KEY": user.secret_access_key}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    create_bucket(moto, BUCKET, "us-east-1")
    aws_clients.cache_clear()
    yield moto
    aws_clients.cache_clear()


# Were the failure retried, the step would wait about 30, 60 and 120 s: fail well before.
@pytest.mark.timeout(120)
def test_a_replace_without_delete_permission_fails_once_naming_the_action(restricted, monkeypatch):
    with Simulator(SimConfig(seed=13, accounts=15, days=3)) as sim:
        monkeypatch.setenv("ZUORA_SIMULATOR_URL", sim.base_url)
        day = max(last_days(3), key=lambda dt: sim.truth("account", *day_window(dt)).num_rows)
        assert materialize(["zuora/account"], [day]).success  # IAM not enforced yet: the first transfer
        [first] = partition_transfers("account", day)

        enforce_iam(restricted)
        result = materialize(["zuora/account"], [day], raise_on_error=False)
        restricted.set_iam_enforcement(False)

    assert not result.success
    events = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events, "a missing permission is never retried"
    [failure] = result.get_step_failure_events()
    message = serialize_value(failure.event_specific_data)
    assert "s3:DeleteObject" in message and f"arn:aws:s3:::{BUCKET}/zuora/account/dt={day}/" in message
    assert failure.event_specific_data.user_failure_data.metadata["missing_permission"].value == "s3:DeleteObject"
    transfers = partition_transfers("account", day)
    assert first in transfers and len(transfers) == 2, "at most one extra transfer: the new one, committed"
