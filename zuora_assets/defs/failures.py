"""Which failures a retry can fix: transient ones are retried by the step's RetryPolicy; settings,
permission, data and schema errors fail the step at once with their message."""

import contextlib
from collections.abc import Iterator

import dagster as dg
from botocore.exceptions import ClientError

from zuora_assets.athena.errors import CatalogError, CatalogPermissionDenied
from zuora_assets.aws import AwsAuthError
from zuora_assets.lake.storage import PermissionDenied
from zuora_assets.settings import SettingsError
from zuora_assets.zuora.errors import ZuoraConfigError, ZuoraDataError, ZuoraJobError

# Retrying these cannot help: the settings, a permission, the data or the schema must change first.
# A missing permission anywhere in the lake (`PermissionDenied`, also for per-key DeleteObjects errors) or the
# catalog (`CatalogPermissionDenied`, a CatalogError) is typed, so it is never retried.
PERMANENT = (
    SettingsError, AwsAuthError, PermissionDenied, ZuoraConfigError, ZuoraJobError, ZuoraDataError, CatalogError,
    ValueError,
)
PERMANENT_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "NoSuchBucket", "EntityNotFoundException", "InvalidRequestException",
}

# Transient failures (throttling, 5xx after the client's own retries, lost connections) get this.
RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def is_permanent(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, PERMANENT):
            return True
        if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in PERMANENT_CODES:
            return True
        error = error.__cause__
    return False


@contextlib.contextmanager
def fail_fast_unless_transient(where: str) -> Iterator[None]:
    """Re-raise permanent errors as a `dg.Failure` that skips retries, naming `where` it happened."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as error:
        if not is_permanent(error):
            raise
        notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", ()))
        metadata = {"error": type(error).__name__, "retried": False}
        action = _missing_action(error)
        if action:
            metadata["missing_permission"] = action
        raise dg.Failure(description=f"{where}: {error}{notes}", metadata=metadata, allow_retries=False) from error


def _missing_action(error: BaseException | None) -> str | None:
    """The IAM action a permission error names, if any."""
    while error is not None:
        if isinstance(error, PermissionDenied | CatalogPermissionDenied):
            return error.action
        error = error.__cause__
    return None
