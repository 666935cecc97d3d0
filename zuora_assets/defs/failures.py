"""Which failures a retry can fix: transient ones are retried by the step's RetryPolicy; settings,
permission, data and schema errors (typed `Permanent`, see `common.failures`) fail the step at once
with their message."""

import contextlib
from collections.abc import Iterator

import dagster as dg

from zuora_assets.athena.errors import CatalogPermissionDenied
from zuora_assets.common.failures import is_permanent
from zuora_assets.lake.storage import PermissionDenied

# Transient failures (throttling, 5xx after the client's own retries, lost connections) get this.
RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


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
