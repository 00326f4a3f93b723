"""API keys and their scopes. Only sha256 hashes are kept, from two places:

- the server's own keys (``--api-key-env VAR`` / ``--api-key-file PATH``, never argv, which ``ps``
  shows to every user): the operator's, so they are admin keys;
- the store's ``api_keys`` table (``ils keys create NAME [--admin]``), read on every check, so that
  ``ils keys revoke`` takes effect on a running server at once.

Any working key may call the OpenAI routes and feedback; ``/admin/*`` needs an admin key. With no key
at all the server is open (``ils serve`` warns when it listens beyond the loopback).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Any

from ils.serve.errors import APIError


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Keys:
    """``own``: sha256 of the server's keys; ``stored``: the store's working keys, sha256 → (id, admin)."""

    def __init__(self, own: Iterable[str] = (),
                 stored: Callable[[], dict[str, tuple[int, bool]]] | None = None):
        self.own = set(own)
        self.stored = stored or dict

    @property
    def hashes(self) -> dict[str, tuple[int | None, bool]]:
        """Every working key: sha256 → (store id or None for the server's own, admin?)."""
        return {**{h: (None, True) for h in self.own}, **self.stored()}

    @property
    def required(self) -> bool:
        return bool(self.hashes)

    def check(self, request: Any, admin: bool = False) -> int | None:
        """The key's store id (None for the server's own keys, or when keys are off).

        401 without a working key, 403 when ``admin`` is asked of a key without that scope.
        """
        table = self.hashes
        if not table:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise APIError(401, "missing API key: send 'Authorization: Bearer KEY'", code="invalid_api_key")
        found = _lookup(table, sha256(token.strip()))
        if found is None:
            raise APIError(401, "invalid API key", code="invalid_api_key")
        key_id, is_admin = found
        if admin and not is_admin:
            raise APIError(403, "this endpoint needs an admin key (ils keys create NAME --admin)",
                           type="permission_error", code="insufficient_scope")
        return key_id


def _lookup(table: dict[str, tuple[int | None, bool]], digest: str) -> tuple[int | None, bool] | None:
    """Compare against every hash in constant time each (no early exit on a prefix)."""
    found = None
    for known, entry in table.items():
        if hmac.compare_digest(known, digest):
            found = entry
    return found
