"""API keys: only sha256 hashes are kept (from ``--api-key`` and the store's api_keys table)."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from ils.serve.errors import APIError


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Keys:
    def __init__(self, hashes: dict[str, int | None]):
        self.hashes = hashes

    @property
    def required(self) -> bool:
        return bool(self.hashes)

    def check(self, request: Request) -> int | None:
        """The key's id (None for command-line keys or when keys are off); 401 otherwise."""
        if not self.required:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise APIError(401, "missing API key: send 'Authorization: Bearer KEY'", code="invalid_api_key")
        digest = sha256(token.strip())
        for known, key_id in self.hashes.items():
            if hmac.compare_digest(known, digest):
                return key_id
        raise APIError(401, "invalid API key", code="invalid_api_key")
