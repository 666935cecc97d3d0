"""Which failures a retry can fix: transient ones are retried by the step's RetryPolicy; settings,
permission, data and schema errors fail the step at once with their message."""

import contextlib
from collections.abc import Iterator

import dagster as dg
from botocore.exceptions import ClientError

from zuora_assets.athena.errors import CatalogError
from zuora_assets.aws import AwsAuthError
from zuora_assets.settings import SettingsError
from zuora_assets.zuora.errors import ZuoraConfigError, ZuoraDataError, ZuoraJobError

# Retrying these cannot help: the settings, a permission, the data or the schema must change first.
PERMANENT = (SettingsError, AwsAuthError, ZuoraConfigError, ZuoraJobError, ZuoraDataError, CatalogError, ValueError)
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
        raise dg.Failure(
            description=f"{where}: {error}",
            metadata={"error": type(error).__name__, "retried": False},
            allow_retries=False,
        ) from error
