"""Where a tenant lives: named Zuora environments and the rules for a custom base URL."""

from __future__ import annotations

from zuora_assets.common.urls import url_problem
from zuora_assets.zuora.errors import ZuoraConfigError

# REST base URLs of Zuora's data centers (reference/zuora_api.md section 1.2).
ENVIRONMENTS: dict[str, str] = {
    "us-production": "https://rest.na.zuora.com",
    "us-cloud2-production": "https://rest.zuora.com",
    "us-sandbox": "https://rest.sandbox.na.zuora.com",
    "us-cloud2-sandbox": "https://rest.apisandbox.zuora.com",
    "us-developer-sandbox": "https://rest.test.zuora.com",
    "us-central-sandbox": "https://rest.test.zuora.com",
    "eu-production": "https://rest.eu.zuora.com",
    "eu-sandbox": "https://rest.sandbox.eu.zuora.com",
    "eu-developer-sandbox": "https://rest.test.eu.zuora.com",
    "eu-central-sandbox": "https://rest.test.eu.zuora.com",
    "apac-production": "https://rest.ap.zuora.com",
    "apac-developer-sandbox": "https://rest.test.ap.zuora.com",
    "apac-central-sandbox": "https://rest.test.ap.zuora.com",
}


def check_base_url(base_url: str) -> str:
    """`base_url` without a trailing slash, if it is https (or http on a loopback address)."""
    problem = url_problem(base_url, https_only=True)
    if problem:
        raise ZuoraConfigError(f"Zuora base URL {base_url!r} {problem}; e.g. 'https://rest.na.zuora.com'")
    return base_url.rstrip("/")


def resolve_base_url(environment: str | None, base_url: str | None) -> str:
    """The REST base URL for a named environment or a custom base URL (exactly one must be given)."""
    if (environment is None) == (base_url is None):
        raise ZuoraConfigError(
            "give exactly one of the Zuora environment (e.g. 'us-production') or a base URL; "
            f"got environment={environment!r}, base_url={base_url!r}"
        )
    if base_url is not None:
        return check_base_url(base_url)
    url = ENVIRONMENTS.get(environment.strip().lower())
    if url is None:
        raise ZuoraConfigError(
            f"unknown Zuora environment {environment!r}: use one of {', '.join(ENVIRONMENTS)}, "
            "or set a custom base URL"
        )
    return url
