"""The one check of a service URL: http(s), a host, no query, fragment or credentials, and https unless
the host is this machine (a local simulator or S3-compatible server)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def url_problem(value: str, *, https_only: bool) -> str | None:
    """What is wrong with `value` as a service URL, as the end of a sentence ("... uses plain http: ..."), or None."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return "is not an http(s) URL like https://host[:port] (no query or fragment)"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if https_only and parts.scheme == "http" and not is_loopback(parts.hostname):
        return "uses plain http: use https (http is allowed only for 127.0.0.1/localhost, e.g. a local simulator)"
    if parts.username or parts.password:
        return "contains a user name or password: put credentials in their own settings"
    return None
