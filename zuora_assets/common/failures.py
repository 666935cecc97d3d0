"""Failure kinds: every error the project raises says whether retrying can help (`Transient`) or not
(`Permanent`), and `is_permanent` reads that from an error and its causes."""

from __future__ import annotations

from botocore.exceptions import ClientError

from zuora_assets.common.aws_errors import is_permanent_aws


class Permanent(Exception):
    """Retrying cannot help: a setting, a permission, the schema or the data must change first."""


class Transient(Exception):
    """Retrying may help: throttling, a server error, a cut connection, a cut download."""


class InvalidValue(Permanent, ValueError):
    """A value breaks a rule (an argument, a stored file's format, the data contract): fix it, then run again."""


def is_permanent(error: BaseException | None) -> bool:
    """True when retrying cannot fix `error`: the first of it and its causes that is typed decides.

    `Permanent` and `Transient` mark our own errors; an AWS `ClientError` is classified by its code
    (`aws_errors`). Untyped errors (a cut connection, a truncated body, a parse error of a cut file)
    count as transient: the step's retry policy tries again.
    """
    while error is not None:
        if isinstance(error, Transient):  # checked first: a transient kind of a permanent family is transient
            return False
        if isinstance(error, Permanent):
            return True
        if isinstance(error, ClientError):
            return is_permanent_aws(error)
        error = error.__cause__
    return False
