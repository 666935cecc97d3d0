"""The errors raised by the Zuora client and extraction, one class per thing the user must do about it."""

from __future__ import annotations

from zuora_assets.common.failures import Permanent, Transient


class ZuoraError(Exception):
    """Base class of every error raised by `zuora_assets.zuora`."""


class ZuoraConfigError(ZuoraError, Permanent):
    """A setting is wrong (environment, base URL, credentials, permissions): fix the configuration."""


class ZuoraAuthError(ZuoraConfigError):
    """Zuora rejected the OAuth client credentials or the token they gave."""


class ZuoraPermissionError(ZuoraConfigError):
    """The OAuth client's user lacks a permission or feature needed to export a model."""


class ZuoraRequestError(ZuoraError):
    """An HTTP request to Zuora failed with a status or body that retrying cannot fix."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ZuoraTransientError(ZuoraRequestError, Transient):
    """A retryable failure (429, 5xx, a cut connection, a truncated body), or such failures until attempts ran
    out; `retry_after` is the wait Zuora asked for (seconds)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, retry_after: float = 0.0):
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class ZuoraFileTooLargeError(ZuoraRequestError, Permanent):
    """A result file is over Zuora's download limit (HTTP 403 `max-object-size`): query a smaller window."""


class ZuoraJobError(ZuoraError, Permanent):
    """An AQuA export job failed in a way that stops the model (after retries, where retrying makes sense)."""

    def __init__(self, message: str, *, code: str | None = None, job_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.job_id = job_id


class ZuoraDataError(ZuoraError, Permanent):
    """A result file cannot be trusted: malformed CSV, a bad value, or a row count that does not match."""


class ZuoraCutFileError(ZuoraDataError, Transient):
    """A result file ended early (mid-row, or fewer rows than Zuora counted): its download was cut, and
    downloading it again (the step's retry) fixes it."""
