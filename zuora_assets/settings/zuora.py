"""The source settings: the Zuora tenant to read from (None: the embedded simulator)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from zuora_assets.settings.reader import Reader, check_token, check_url, check_uuid
from zuora_assets.zuora.environments import ENVIRONMENTS

# Named Zuora environments and their REST base URLs: the client's table is the single one.
ZUORA_ENVIRONMENTS: dict[str, str] = ENVIRONMENTS

ZUORA_VARS = (
    "ZUORA_ENVIRONMENT",
    "ZUORA_BASE_URL",
    "ZUORA_CLIENT_ID",
    "ZUORA_CLIENT_SECRET",
    "ZUORA_ENTITY_ID",
)


@dataclass(frozen=True)
class ZuoraSettings:
    """The Zuora tenant to read from."""

    base_url: str
    client_id: str
    client_secret: SecretStr
    environment: str | None = None
    entity_id: str | None = None


def read_zuora(r: Reader) -> ZuoraSettings | None:
    """The tenant settings, or None (embedded simulator) when no client id or secret is set."""
    client_id, secret = r.get("ZUORA_CLIENT_ID"), r.get("ZUORA_CLIENT_SECRET")
    if not client_id and not secret:
        for name in ("ZUORA_ENVIRONMENT", "ZUORA_BASE_URL", "ZUORA_ENTITY_ID"):
            if r.get(name):
                r.problem(
                    name,
                    "is set but ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET are not: set both to use your tenant, "
                    f"or unset {name} to use the embedded simulator",
                )
        return None
    if not client_id or not secret:
        missing = "ZUORA_CLIENT_ID" if not client_id else "ZUORA_CLIENT_SECRET"
        r.problem(
            missing, "is missing: set ZUORA_CLIENT_ID and ZUORA_CLIENT_SECRET together (an OAuth client)"
        )
        return None
    client_id, secret = r.checked("ZUORA_CLIENT_ID", check_token), r.secret("ZUORA_CLIENT_SECRET", check_token)
    environment, base_url = _zuora_endpoint(r)
    entity_id = r.checked("ZUORA_ENTITY_ID", check_uuid)
    if base_url is None or client_id is None or secret is None:
        return None
    return ZuoraSettings(base_url, client_id, secret, environment, entity_id)


def _zuora_endpoint(r: Reader) -> tuple[str | None, str | None]:
    """(environment name, base URL) from exactly one of ZUORA_ENVIRONMENT and ZUORA_BASE_URL."""
    environment = r.get("ZUORA_ENVIRONMENT")
    url = r.checked("ZUORA_BASE_URL", lambda v: check_url(v, https_only=True))
    if environment and r.get("ZUORA_BASE_URL"):
        r.problem("ZUORA_BASE_URL", "is set together with ZUORA_ENVIRONMENT: set only one of them")
        return None, None
    if environment:
        if environment.lower() not in ZUORA_ENVIRONMENTS:
            r.problem(
                "ZUORA_ENVIRONMENT",
                f"{environment!r} is not a known Zuora environment: use one of "
                f"{', '.join(ZUORA_ENVIRONMENTS)}, or set ZUORA_BASE_URL instead",
            )
            return None, None
        return environment.lower(), ZUORA_ENVIRONMENTS[environment.lower()]
    if not url and not r.get("ZUORA_BASE_URL"):
        r.problem(
            "ZUORA_ENVIRONMENT",
            f"is missing: name your tenant's environment ({', '.join(ZUORA_ENVIRONMENTS)}) or set ZUORA_BASE_URL",
        )
    return None, url.rstrip("/") if url else None
