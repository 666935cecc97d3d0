"""The one reading of AWS errors: the code and message (also of moto's wrapped denials), whether it is a
missing permission, whether retrying can help, and the one table of what to check for each code."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "AllAccessDisabled",
    "AccountProblem",
})
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
})
# Codes a retry cannot fix (besides denials): wrong credentials, a missing bucket or entity, a bad request.
PERMANENT_CODES = frozenset({
    "InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "NoSuchBucket", "EntityNotFoundException",
    "InvalidRequestException", "InvalidInputException", "PermanentRedirect", "AuthorizationHeaderMalformed",
    "ValidationException", "AccessControlListNotSupported",
})

# What to check when a call fails with one of these codes (a denial names the missing action instead).
HINTS = {
    "NoSuchBucket": "check AWS_BUCKET: this project does not create buckets",
    "PermanentRedirect": "the bucket is in another region: check AWS_BUCKET_REGION",
    "AuthorizationHeaderMalformed": "the bucket is in another region: check AWS_BUCKET_REGION",
    "InvalidAccessKeyId": "the access key is unknown: check AWS_ACCESS_KEY_ID",
    "InvalidClientTokenId": "the access key is unknown: check AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the secret does not match the key: check AWS_SECRET_ACCESS_KEY",
    "ExpiredToken": "the session token expired: renew AWS_SESSION_TOKEN or use AWS_AUTH_MODE=role",
    "InvalidRequestException": "check AWS_WORKGROUP, AWS_DATABASE and AWS_QUERY_RESULTS_LOCATION",
    "AccessControlListNotSupported": "the bucket disallows ACLs and this project sends none: check bucket policies",
}
DEFAULT_HINT = "retry if the error is transient, otherwise fix its cause"

_DENIAL_RE = re.compile(r"not authorized to perform:?\s*([\w-]+:[\w*]+)(?:\s+on resource:?\s*(\S+))?")
_XML_CODE_RE = re.compile(r"<Code>([^<]*)</Code>")
_XML_MESSAGE_RE = re.compile(r"<Message>([^<]*)</Message>")


def error_code_message(error: ClientError) -> tuple[str, str]:
    """The error code and message, unwrapping moto's JSON-protocol denials (HTTP 403, XML in the message)."""
    details = error.response.get("Error", {})
    code, message = str(details.get("Code", "")), str(details.get("Message", ""))
    inner_code, inner_message = _XML_CODE_RE.search(message), _XML_MESSAGE_RE.search(message)
    if inner_code:
        return inner_code[1], inner_message[1] if inner_message else message
    return code, message


def error_code(error: ClientError) -> str:
    """The AWS error code of a botocore ClientError ('' when absent)."""
    return error_code_message(error)[0]


def http_status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_access_denied(error: ClientError) -> bool:
    """True for a permission failure (moto's JSON services answer a bare HTTP 403)."""
    return error_code(error) in DENIED_CODES or error_code(error) == "403" or http_status(error) == 403


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES or http_status(error) == 429


def is_permanent_aws(error: ClientError) -> bool:
    """True when retrying cannot fix this AWS error: a denial, bad credentials, a missing resource, a bad request."""
    return is_access_denied(error) or error_code(error) in PERMANENT_CODES


def hint(code: str) -> str:
    """What to check for an error code (a general advice for codes without a specific one)."""
    return HINTS.get(code, DEFAULT_HINT)


def denied_action_resource(message: str) -> tuple[str | None, str | None]:
    """The action and resource named by an "is not authorized to perform: <action> on resource: <arn>" message."""
    match = _DENIAL_RE.search(message)
    if not match:
        return None, None
    return match[1], match[2].rstrip(".,;") if match[2] else None


def aws_error_message(service: str, operation: str, where: str, error: ClientError) -> str:
    """One sentence on a failed AWS call: what failed, where, the AWS reason and what to do."""
    code, reason = error_code_message(error)
    head = f"{service} {operation} on {where} failed ({code or 'error'}: {(reason or str(error)).strip()[:300]})."
    if is_access_denied(error):
        action = f"{service.lower()}:{operation}"
        return f"{head} The AWS identity in use lacks {action} there: grant {action} on that resource."
    return f"{head} {hint(code)[0].upper()}{hint(code)[1:]}, then run again." if code in HINTS else (
        f"{head} Check the resource and the AWS settings, then run again.")
