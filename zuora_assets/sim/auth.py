"""OAuth client-credentials tokens of the simulated tenant: issue, check, expire (wall-clock lifetimes)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any


class Tokens:
    """Bearer tokens and their wall-clock expiry."""

    def __init__(self, client_id: str, client_secret: str, expires_in: int, scope: str):
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_in, self.scope = expires_in, scope
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def credentials_ok(self, client_id: str | None, client_secret: str | None) -> bool:
        return client_id == self.client_id and client_secret == self.client_secret

    def issue(self) -> dict[str, Any]:
        """A new token response (`access_token`, `token_type`, `expires_in`, `scope`, `jti`)."""
        token = uuid.uuid4().hex
        with self._lock:
            self._expiry[token] = time.monotonic() + self.expires_in
        return {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in,
                "scope": self.scope, "jti": uuid.uuid4().hex}

    def valid(self, token: str | None) -> bool:
        with self._lock:
            expiry = self._expiry.get(token or "")
        return expiry is not None and time.monotonic() < expiry

    def expire_all(self) -> None:
        with self._lock:
            self._expiry.clear()
