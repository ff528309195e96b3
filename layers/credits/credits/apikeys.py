"""The api-key tool (`make api-key ACCOUNT=acct_x`, and the local stack's CREDITS_API_KEYS): makes
an **admin** key of an account, stored only as its SHA-256 hash, and prints it once. Keys with
other scopes are made through `POST /api-keys` (services/api_keys.py)."""

from __future__ import annotations

import argparse

from credits.container import api_key_service
from credits.domain.access import hash_key, new_api_key_secret
from credits.services.api_keys import PROVISIONED_NAME

__all__ = ["hash_key", "main", "new_api_key", "provision_api_key"]


def new_api_key() -> str:
    return new_api_key_secret()


def provision_api_key(api_key: str, account_id: str, name: str = PROVISIONED_NAME, service=None) -> bool:
    """Store `api_key` as an admin key of `account_id`; False when it is stored already."""
    return (service or api_key_service()).provision(account_id, api_key, name)


def main() -> None:
    """Create an admin key for an account in TABLE_NAME and print it once."""
    parser = argparse.ArgumentParser(description="Create an admin API key for an account")
    parser.add_argument("account_id")
    parser.add_argument("--key", help="use this key instead of a random one (kept as it is if stored already)")
    parser.add_argument("--name", default=PROVISIONED_NAME, help="the key's name (GET /api-keys shows it)")
    args = parser.parse_args()
    key = args.key or new_api_key()
    provision_api_key(key, args.account_id, args.name)
    print(key)


if __name__ == "__main__":
    main()
