"""API keys: stored only as SHA-256 hashes; a key maps to exactly one account."""

from __future__ import annotations

import argparse
import hashlib
import secrets

from credits.container import repository


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def provision_api_key(api_key: str, account_id: str, repo=None) -> None:
    (repo or repository()).put_api_key(hash_key(api_key), account_id)


def account_for(api_key: str, repo=None) -> str | None:
    if not api_key:
        return None
    return (repo or repository()).account_for_api_key(hash_key(api_key))


def bearer_token(headers: dict[str, str] | None) -> str | None:
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def main() -> None:
    """`make api-key ACCOUNT=acct_x`: create a key for an account in TABLE_NAME and print it once."""
    parser = argparse.ArgumentParser(description="Create an API key for an account")
    parser.add_argument("account_id")
    parser.add_argument("--key", help="use this key instead of a random one")
    args = parser.parse_args()
    key = args.key or new_api_key()
    provision_api_key(key, args.account_id)
    print(key)


if __name__ == "__main__":
    main()
