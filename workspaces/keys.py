"""Secret generation and hashing for write keys and management tokens.

Keys carry 192 random bits, so a fast hash (SHA-256) is right: a password hasher would only slow every
request without adding safety. Only the hash and a short display prefix are stored.
"""

from __future__ import annotations

import hashlib
import secrets

WRITE_KEY_PREFIX = "wk_"
API_TOKEN_PREFIX = "nt_"  # noqa: S105 - a prefix, not a secret


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def key_generate(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def key_display_prefix(raw: str) -> str:
    return raw[:10]
