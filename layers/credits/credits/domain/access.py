"""Who may call what (pure rules): the scopes of API keys, the scope each HTTP route needs, and
reading the API key out of an `Authorization` header (`Bearer <key>`, or HTTP Basic with the key
as user name and an empty password, as `curl -u KEY:` sends it)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from typing import Literal

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")  # each allows what the ones before it allow
ADMIN: Scope = "admin"

# Routes that change nothing although they are POSTs.
_READ_POSTS = frozenset({"/credit-applications/preview"})
# Key management: admin keys only, reads included (a key's name and scope are the account's secrets' map);
# but any key may read itself (the console shows who is signed in and what they may do).
_ADMIN_PREFIX = "/api-keys"
CURRENT_KEY_RESOURCE = "/api-keys/current"


def required_scope(method: str, resource: str) -> Scope:
    """The scope a request needs, from its method and its route's path template (API Gateway's
    `resource`, e.g. `/credit-grants/{grantId}`): `/api-keys…` admin (but `GET /api-keys/current`,
    the key itself, read); reads (GET, HEAD, and POSTs that write nothing) read; every other
    request write."""
    if resource == CURRENT_KEY_RESOURCE and method.upper() == "GET":
        return "read"
    if resource == _ADMIN_PREFIX or resource.startswith(_ADMIN_PREFIX + "/"):
        return "admin"
    if method.upper() in ("GET", "HEAD", "OPTIONS") or resource in _READ_POSTS:
        return "read"
    return "write"


def allows(scope: str | None, required: Scope) -> bool:
    """Whether a key of `scope` may make a request needing `required` (an unknown scope: nothing)."""
    if scope not in SCOPES:
        return False
    return SCOPES.index(scope) >= SCOPES.index(required)  # type: ignore[arg-type]


def api_key_from_header(value: str | None) -> str | None:
    """The API key in an Authorization header value, or None for a missing or malformed one
    (never an exception): `Bearer <key>`, or `Basic base64(<key>:)` (the password must be empty,
    a missing colon is read as no password)."""
    if not isinstance(value, str):
        return None
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return user if user and not password else None
    return None


def api_key_from_headers(headers: dict[str, str] | None) -> str | None:
    """The API key of a request's headers (the Authorization header, any case)."""
    for name, value in (headers or {}).items():
        if name.lower() == "authorization":
            return api_key_from_header(value)
    return None


# ---- the keys themselves: random, shown once, stored only as a SHA-256 hash
KEY_PREFIX = "sk_"
# lastUsedAt is written at most once per this many seconds per key.
LAST_USED_RESOLUTION_SECONDS = 60


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)
