"""Every key format of the single table, in one place (README: "Key design")."""

from __future__ import annotations

import hashlib

SHARDS = 4  # write-sharding of the service-wide work queues (GSI2, GSI3)


def shard_of(identifier: str, shards: int = SHARDS) -> int:
    return int(hashlib.sha256(identifier.encode()).hexdigest(), 16) % shards


# ---- base table
def customer_pk(account_id: str, customer_id: str) -> str:
    # Grants and ledger entries of one customer share a partition: balances are one strongly
    # consistent Query, and a grant and its ledger entry sit side by side.
    return f"ACCT#{account_id}#CUST#{customer_id}"


def grant_sk(grant_id: str) -> str:
    return f"GRANT#{grant_id}"


GRANT_SK_PREFIX = "GRANT#"
LEDGER_SK_PREFIX = "TXN#"


def ledger_sk(entry_id: str) -> str:
    return f"TXN#{entry_id}"


def grant_ref_key(account_id: str, grant_id: str) -> dict[str, str]:
    """grantId -> customer lookup, so GET /credit-grants/{id} finds the customer partition."""
    return {"PK": f"ACCT#{account_id}#GRANT#{grant_id}", "SK": "REF"}


def application_key(account_id: str, invoice_id: str) -> dict[str, str]:
    return {"PK": f"ACCT#{account_id}#INV#{invoice_id}", "SK": "APPLICATION"}


def schedule_key(account_id: str, schedule_id: str) -> dict[str, str]:
    return {"PK": f"ACCT#{account_id}#SCHEDULE#{schedule_id}", "SK": "SCHEDULE"}


def customers_pk(account_id: str) -> str:
    """The account's customer directory (one item per customer; also its GSI1PK)."""
    return f"ACCT#{account_id}#CUSTOMERS"


CUSTOMER_SK_PREFIX = "CUST#"


def customer_dir_key(account_id: str, customer_id: str) -> dict[str, str]:
    return {"PK": customers_pk(account_id), "SK": f"{CUSTOMER_SK_PREFIX}{customer_id}"}


def customer_activity_sk(last_entry_id: str, customer_id: str) -> str:
    """GSI1SK of a directory item: its latest ledger entry's id (a ULID: time-ordered to the
    millisecond), so newest activity first is a descending Query."""
    return f"{last_entry_id}#{customer_id}"


def tax_rate_key(account_id: str, tax_rate_id: str) -> dict[str, str]:
    return {"PK": f"ACCT#{account_id}#TAXRATE#{tax_rate_id}", "SK": "TAXRATE"}


def api_key_key(key_hash: str) -> dict[str, str]:
    """An API key's record, under its hash: the authorizer's one GetItem."""
    return {"PK": f"APIKEY#{key_hash}", "SK": "APIKEY"}


def api_key_ref_key(account_id: str, key_id: str) -> dict[str, str]:
    """key id -> its hash, so GET /api-keys/{id} and revoke find the record."""
    return {"PK": f"ACCT#{account_id}#APIKEY#{key_id}", "SK": "REF"}


def api_key_admins_key(account_id: str) -> dict[str, str]:
    """The account's count of unrevoked admin keys: a revoke is conditioned on it staying >= 1."""
    return {"PK": f"ACCT#{account_id}#APIKEYS", "SK": "ADMINS"}


def account_api_keys_gsi1pk(account_id: str) -> str:
    return f"ACCT#{account_id}#APIKEYS"


def notice_key(account_id: str, grant_id: str, kind: str) -> dict[str, str]:
    return {"PK": f"ACCT#{account_id}#GRANT#{grant_id}", "SK": f"NOTICE#{kind}"}


IDEMPOTENCY_PK = "IDEMPOTENCY"


def grant_claim_key(account_id: str, request_key: str) -> dict[str, str]:
    """The create-once claim of a grant made under a request key (an Idempotency-Key and its
    route): written in the grant's own transaction, so a repeat finds its grant instead of making
    a second one, whatever happened to the Idempotency-Key record."""
    digest = hashlib.sha256(request_key.encode()).hexdigest()[:40]
    return {"PK": f"ACCT#{account_id}#GRANTKEY#{digest}", "SK": "CLAIM"}


def idempotency_pk(scope: str) -> str:
    """Idempotency records of one scope (an account and route, or a command type and account)."""
    return f"{IDEMPOTENCY_PK}#{scope}"

# ---- the audit trail (written from the table stream by the publisher)
def account_audit_gsi1pk(account_id: str, audit_sk_value: str) -> str:
    """GSI1 shard of an account's audit event, GSI1SK `<occurredAt>#<sequence>`: newest first is a
    descending merge of the shards."""
    return _account_list_gsi1pk(account_id, "AUDIT", audit_sk_value)


def account_audit_gsi1pks(account_id: str) -> list[str]:
    return _account_list_gsi1pks(account_id, "AUDIT")


def resource_audit_pk(account_id: str, resource_id: str) -> str:
    """Base-table partition of one resource's audit events (SK as GSI1SK): `resourceId=` is a
    strongly consistent Query of it."""
    return f"ACCT#{account_id}#AUDIT#{resource_id}"


def audit_sk(occurred_iso: str, sequence: str) -> str:
    return f"{occurred_iso}#{sequence}"


def audit_count_key(account_id: str, resource_id: str) -> dict[str, str]:
    """How many audit events one resource has: totalResultSize without a count."""
    return {"PK": f"ACCT#{account_id}#AUDITCOUNT", "SK": resource_id}


def account_audit_count_key(account_id: str, audit_sk_value: str) -> dict[str, str]:
    """The shard of the account's audit count that one event moves (every write of the account
    moves it: one item would cap the account at its ~1,000 WCU/s); the count is the shards' sum."""
    return {"PK": f"ACCT#{account_id}#AUDITCOUNT", "SK": f"#ACCOUNT#{shard_of(audit_sk_value, ACCOUNT_SHARDS)}"}


def account_audit_count_keys(account_id: str) -> list[dict[str, str]]:
    return [{"PK": f"ACCT#{account_id}#AUDITCOUNT", "SK": f"#ACCOUNT#{shard}"} for shard in range(ACCOUNT_SHARDS)]


# ---- report snapshots: one item per closed month, for the account or for one customer
def report_snapshot_pk(account_id: str, customer_id: str | None) -> str:
    return customer_pk(account_id, customer_id) if customer_id else f"ACCT#{account_id}#REPORTS"


REPORT_SK_PREFIX = "REPORT#MONTH#"


def report_snapshot_sk(month: str) -> str:
    """`month` is YYYY-MM: sort keys order as the months do."""
    return f"{REPORT_SK_PREFIX}{month}"


# ---- grant counters: totalResultSize of grant lists without reading the grants
COUNT_SHARDS = 16  # an account's counter is split so that concurrent creates rarely meet on one item
COUNTER_PREFIX = "n|"


def account_count_key(account_id: str, shard: int) -> dict[str, str]:
    return {"PK": f"ACCT#{account_id}#GRANTCOUNT#{shard}", "SK": "COUNT"}


def count_shard_of(grant_id: str) -> int:
    """A grant's creation and its deletion count on the same shard."""
    return shard_of(grant_id, COUNT_SHARDS)


def grant_kind_counter(grant_type: str, currency: str | None, metric_id: str | None) -> str:
    """The counter attribute of one kind of grant; list filters on type / currency / metric sum
    the kinds they match."""
    return f"{COUNTER_PREFIX}{grant_type}|{currency or ''}|{metric_id or ''}"


# ---- LSI1: a customer's spendable grants in burn-down order (sparse), so apply reads what it spends
def burn_scope(grant_type: str, scope: str) -> str:
    """One balance of a customer: a CASH currency or a USAGE metric. The length prefix keeps the
    scope unambiguous whatever characters an id may come to allow."""
    return f"BURN#{grant_type}#{len(scope)}:{scope}#"


def burn_order_sk(grant_type: str, scope: str, priority: int, expires_at_iso: str | None, promotional: bool,
                  effective_at_iso: str, created_at_iso: str, grant_id: str) -> str:
    """burndown.grant_sort_key as a string: priority; expiresAt (never last: '~' sorts after
    digits); PROMOTIONAL first; effectiveAt; createdAt; id. Instants are fixed-width ISO."""
    return (f"{burn_scope(grant_type, scope)}{priority:03d}#{expires_at_iso or '~'}#{0 if promotional else 1}"
            f"#{effective_at_iso}#{created_at_iso}#{grant_id}")


# ---- GSI1: account-wide listings in id (= creation time) order
# The busy account-wide lists (grants, ledger entries, audit events, the customer directory) are
# write-sharded: an index partition takes ~1,000 WCU/s, so one key per list would cap an account's
# whole write rate there. A read merges the shards by GSI1SK (store/sharded.py). Changing the
# number re-keys every item of those lists: a migration, not a setting.
ACCOUNT_SHARDS = 8


def _account_list_gsi1pk(account_id: str, listing: str, member_id: str) -> str:
    return f"ACCT#{account_id}#{listing}#{shard_of(member_id, ACCOUNT_SHARDS)}"


def _account_list_gsi1pks(account_id: str, listing: str) -> list[str]:
    return [f"ACCT#{account_id}#{listing}#{shard}" for shard in range(ACCOUNT_SHARDS)]


def account_grants_gsi1pk(account_id: str, grant_id: str) -> str:
    return _account_list_gsi1pk(account_id, "GRANTS", grant_id)


def account_grants_gsi1pks(account_id: str) -> list[str]:
    return _account_list_gsi1pks(account_id, "GRANTS")


def account_ledger_gsi1pk(account_id: str, entry_id: str) -> str:
    return _account_list_gsi1pk(account_id, "LEDGER", entry_id)


def account_ledger_gsi1pks(account_id: str) -> list[str]:
    return _account_list_gsi1pks(account_id, "LEDGER")


def customers_gsi1pk(account_id: str, customer_id: str) -> str:
    """A customer directory item's GSI1 shard (by customer: its moves stay in one shard)."""
    return _account_list_gsi1pk(account_id, "CUSTOMERS", customer_id)


def customers_gsi1pks(account_id: str) -> list[str]:
    return _account_list_gsi1pks(account_id, "CUSTOMERS")


def account_schedules_gsi1pk(account_id: str) -> str:
    return f"ACCT#{account_id}#SCHEDULES"


# ---- GSI2: due work (sparse): grants holding a balance that expire, schedules to run
def account_tax_rates_gsi1pk(account_id: str) -> str:
    return f"ACCT#{account_id}#TAXRATES"


def expiry_gsi2pk(shard: int) -> str:
    return f"EXPIRY#{shard}"


def schedule_gsi2pk(shard: int) -> str:
    return f"SCHEDULE#{shard}"


def unfinished_gsi2pk(shard: int) -> str:
    """Applications whose chunked write is under way (COMMITTING / SETTLING / RELEASING): the
    scheduled run finishes those a caller left behind."""
    return f"UNFINISHED#{shard}"


UNFINISHED_STATUSES = ("COMMITTING", "SETTLING", "RELEASING")


def due_sk(instant_iso: str, identifier: str) -> str:
    return f"{instant_iso}#{identifier}"


# ---- GSI3: expiring-soon notices not yet sent (sparse)
def notice_gsi3pk(shard: int) -> str:
    return f"NOTICE#{shard}"


# ---- real-time consumption (v2)
BALANCE_SK_PREFIX = "BALANCE#"


def balance_sk(grant_type: str, scope: str) -> str:
    """A customer balance's aggregate item, in the customer's partition (domain/balance_aggregates.py),
    so a customer's balances are one Query and one balance one GetItem."""
    return f"{BALANCE_SK_PREFIX}{grant_type}#{len(scope)}:{scope}"


def consumption_key(account_id: str, event_id: str) -> dict[str, str]:
    """A consumption by its eventId (the account's idempotency key for it): its own partition."""
    return {"PK": f"ACCT#{account_id}#CONSUMPTION#{event_id}", "SK": "CONSUMPTION"}


# ---- balance alerts and top-up rules (v2): in the customer's partition, next to the balance
def watch_prefix(grant_type: str, scope: str) -> str:
    """The watches (alerts, top-up rules) of one customer balance: one Query when it moves."""
    return f"WATCH#{grant_type}#{len(scope)}:{scope}#"


def watch_sk(grant_type: str, scope: str, watch_id: str) -> str:
    return f"{watch_prefix(grant_type, scope)}{watch_id}"


def watch_ref_key(account_id: str, watch_id: str) -> dict[str, str]:
    """watch id -> its item, for GET / PATCH / DELETE by id."""
    return {"PK": f"ACCT#{account_id}#WATCH#{watch_id}", "SK": "REF"}


def account_watches_gsi1pk(account_id: str, kind: str) -> str:
    return f"ACCT#{account_id}#{'ALERTS' if kind == 'ALERT' else 'TOPUPRULES'}"
# ---- test clocks (`/test-clocks`, not in live mode)
def test_clock_key(account_id: str, clock_id: str) -> dict[str, str]:
    """The clock item; its customers' items share its partition (SK CUST#<id>)."""
    return {"PK": f"ACCT#{account_id}#CLOCK#{clock_id}", "SK": "CLOCK"}


def account_test_clocks_gsi1pk(account_id: str) -> str:
    return f"ACCT#{account_id}#CLOCKS"


def clock_customer_key(account_id: str, clock_id: str, customer_id: str) -> dict[str, str]:
    return {"PK": test_clock_key(account_id, clock_id)["PK"], "SK": f"{CUSTOMER_SK_PREFIX}{customer_id}"}


CLOCK_MEMBER_SK = "CLOCK"


def clock_member_key(account_id: str, customer_id: str) -> dict[str, str]:
    """customer -> its test clock, in the customer's own partition (deleted with it)."""
    return {"PK": customer_pk(account_id, customer_id), "SK": CLOCK_MEMBER_SK}


def clock_queue_pk(clock_id: str, queue: str) -> str:
    """A test clock's own due-work queue (EXPIRY, NOTICE on GSI2 / GSI3; SCHEDULE on GSI2): the
    service-wide sweep never reads it, the clock's advance reads nothing else."""
    return f"CLOCK#{clock_id}#{queue}"


def clocks_at_work_gsi2pk() -> str:
    """Clocks ADVANCING or DELETING (sparse): the scheduled run resumes one whose worker died."""
    return "CLOCKWORK#0"
