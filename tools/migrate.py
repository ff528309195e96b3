"""Upgrade a deployed table written by an earlier version (README "Upgrading"): shards the
account-wide index keys and adds grants written before the balance aggregates to them.

    TABLE_NAME=<the stack's table> CURSOR_SECRET=not-used-by-the-upgrade AWS_REGION=<region> python -m tools.migrate

Safe to run while the service serves, and again: each change is conditioned on the old shape."""

from __future__ import annotations

import sys

from credits.container import repository
from credits.store.migrations import upgrade


def main() -> int:
    changed = upgrade(repository())
    for kind, count in sorted(changed.items()):
        print(f"{kind}: {count}")
    print("the table is in the current shape" if not changed else "upgraded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
