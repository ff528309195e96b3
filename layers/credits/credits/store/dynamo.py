"""DynamoDB adapter of the Repository port: every boto3 call of the service is in this module."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from credits.domain import balance_aggregates as aggregates
from credits.domain.clock import to_iso
from credits.domain.errors import ConcurrentUpdate, InvalidRequest
from credits.domain.ids import ulid_floor
from credits.domain.records import ApplicationRecord, ConsumptionRecord, GrantNotice, GrantRecord, LedgerRecord, Page
from credits.domain.report_rules import Totals
from credits.services.ports import GrantQuery, LedgerQuery
from credits.settings import Settings
from credits.store import items as mapping
from credits.store import keys, sharded
from credits.store.client import Table, from_wire, paged_items, to_wire

# A grant's create-once claim lives as long as an Idempotency-Key record: a key reused later is a new request.
CLAIM_SECONDS = 24 * 3600
# How long after its request's instant a ledger entry's id may be minted: a Lambda timeout.
_ID_AFTER_INSTANT = timedelta(minutes=15)
_AGGREGATE = "_aggregate"  # an operation's balance-aggregate delta, merged by _transact


def _merge_by_item(deltas: list[tuple[tuple[str, str, Any], Any]]) -> dict[tuple[str, str, Any], Any]:
    merged: dict[tuple[str, str, Any], Any] = {}
    for item, change in deltas:
        merged[item] = aggregates.merge([(item, merged.get(item, {})), (item, change)]).get(item, {})
    return {item: change for item, change in merged.items() if change}


class DynamoRepository(Table):
    """Repository port over one DynamoDB table (key design: store/keys.py, README); its client
    and `get_item` come with the Table (store/client.py)."""

    def __init__(self, settings: Settings, client=None):
        super().__init__(settings, client)
        self.notice_lead = timedelta(days=settings.expiring_soon_lead_days)

    # ------------------------------------------------------------------ low-level helpers
    def transact(self, operations: list[dict[str, Any]]) -> None:
        """One atomic write; a lost condition or a conflicting transaction -> ConcurrentUpdate.
        The balance aggregates of the grants it writes are moved in the same transaction."""
        operations = self._with_aggregates(operations)
        client = self.client
        try:
            client.transact_write_items(TransactItems=operations)
        except client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if any(code in ("ConditionalCheckFailed", "TransactionConflict") for code in reasons):
                raise ConcurrentUpdate(str(reasons)) from exc
            raise
        except client.exceptions.TransactionConflictException as exc:
            raise ConcurrentUpdate("transaction conflict") from exc

    def put_op(self, item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None,
             names: dict[str, str] | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"TableName": self.table, "Item": to_wire(item)}
        if condition:
            op["ConditionExpression"] = condition
        if values:
            op["ExpressionAttributeValues"] = to_wire(values)
        if names:
            op["ExpressionAttributeNames"] = names
        return {"Put": op}

    def grant_put_op(self, grant: GrantRecord, expected_version: int | None) -> dict[str, Any]:
        item = mapping.grant_to_item(grant, notice_lead=self.notice_lead)
        if expected_version is None:
            op = self.put_op(item, "attribute_not_exists(PK)")
        else:
            op = self.put_op(item, "version = :v", {":v": expected_version})
        # What the write moves in the grant's balance aggregate; _transact turns it into one
        # update per aggregate item (never sent to DynamoDB as part of the Put).
        op[_AGGREGATE] = (grant, aggregates.delta(grant.stored or {}, aggregates.contribution(grant)))
        return op

    def _with_aggregates(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The operations with their aggregate deltas merged into one ADD per aggregate item."""
        deltas = []
        clean = []
        for op in operations:
            if _AGGREGATE in op:
                op = dict(op)
                grant, change = op.pop(_AGGREGATE)
                deltas.append(((grant.account_id, grant.customer_id, aggregates.balance_key_of(grant)), change))
            clean.append(op)
        written = [from_wire(op["Put"]["Item"]) for op in clean if "Put" in op
                   and op["Put"]["Item"].get("entity", {}).get("S") == "LEDGER"]
        # The write that moved the balance, for the alerts it crosses (their events name it).
        write = {"entryIds": [e["id"] for e in written][:10], "types": sorted({e["entryType"] for e in written}),
                 "invoiceId": next((e["invoiceId"] for e in written if e.get("invoiceId")), None),
                 "eventId": next((e["context"]["eventId"] for e in written if (e.get("context") or {}).get("eventId")),
                                 None),
                 # Who wrote it and when: a test clock's customer writes at its clock's time, and the
                 # alerts and top-ups it crosses happen then (services/watches.py).
                 "actor": next((e["actor"] for e in written if e.get("actor")), None),
                 "at": max((e["createdAt"] for e in written), default=None),
                 "testClockId": next((e["testClockId"] for e in written if e.get("testClockId")), None)}
        for (account_id, customer_id, key), change in _merge_by_item(deltas).items():
            clean.append(self._aggregate_update(account_id, customer_id, key, change, write))
        if len(clean) > 100:
            raise ValueError(f"a transaction of {len(clean)} items: DynamoDB takes at most 100")
        return clean

    def _aggregate_update(self, account_id: str, customer_id: str, key: aggregates.BalanceKey,
                          change: aggregates.Contribution, write: dict[str, Any]) -> dict[str, Any]:
        names = {"#t": "grantType", "#c": "currency", "#m": "metricId", "#e": "entity", "#u": "updatedAt",
                 "#w": "lastWrite", "#a": "accountId", "#cu": "customerId"}
        values: dict[str, Any] = {":t": key.type, ":c": key.currency, ":m": key.metric_id, ":e": "BALANCE",
                                  ":u": write.get("at") or to_iso(datetime.now(UTC)), ":one": 1,
                                  ":w": write, ":a": account_id,
                                  ":cu": customer_id}
        adds = ["version :one"]
        for i, ((field, window), amount) in enumerate(sorted(change.items())):
            names[f"#b{i}"] = mapping.aggregate_attribute(field, window)
            values[f":b{i}"] = amount
            adds.append(f"#b{i} :b{i}")
        return {"Update": {"TableName": self.table,
                           "Key": to_wire({"PK": keys.customer_pk(account_id, customer_id),
                                           "SK": keys.balance_sk(key.type, key.scope)}),
                           "UpdateExpression": "SET #t = :t, #c = :c, #m = :m, #e = :e, #u = :u, #w = :w, #a = :a, "
                                               "#cu = :cu ADD "
                                               + ", ".join(adds),
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": to_wire(values)}}

    # ------------------------------------------------------------------ balance aggregates
    def balance_aggregates(self, account_id: str, customer_id: str) -> list[tuple[aggregates.BalanceKey, dict]]:
        """Every balance aggregate of a customer: one Query, whatever its number of grants."""
        kwargs = {"TableName": self.table, "ConsistentRead": True,
                  "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                  "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                        ":sk": keys.BALANCE_SK_PREFIX})}
        return [(mapping.item_to_balance_key(item), mapping.item_to_buckets(item)) for item in self.query_all(kwargs)]

    def balance_aggregate(self, account_id: str, customer_id: str, grant_type: str, scope: str) -> dict:
        """One balance's buckets (empty when the customer never had such a grant): one GetItem."""
        item = self.get_item({"PK": keys.customer_pk(account_id, customer_id), "SK": keys.balance_sk(grant_type, scope)})
        return mapping.item_to_buckets(item)

    def balance_aggregates_of(self, account_id: str, customer_id: str,
                              wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """Several balances of a customer in one BatchGetItem: (type, scope) -> buckets."""
        pk = keys.customer_pk(account_id, customer_id)
        found = {(item["grantType"], item.get("currency") or item.get("metricId") or ""): mapping.item_to_buckets(item)
                 for item in self.batch_get([{"PK": pk, "SK": keys.balance_sk(t, s)} for t, s in wanted])}
        return {w: found.get(w, {}) for w in wanted}

    # ------------------------------------------------------------------ consumptions
    def get_consumption(self, account_id: str, event_id: str) -> ConsumptionRecord | None:
        item = self.get_item(keys.consumption_key(account_id, event_id))
        return mapping.item_to_consumption(item) if item else None

    def commit_consumptions(self, records: Iterable[ConsumptionRecord], grants: Iterable[tuple[GrantRecord, int]],
                            entries: Iterable[LedgerRecord]) -> None:
        """The consumptions (each create-once on its eventId), each grant conditioned on the
        version read, their CONSUMED entries and the balance aggregates: one transaction."""
        operations = [self.put_op(mapping.consumption_to_item(r), "attribute_not_exists(PK)") for r in records]
        operations += [self.grant_put_op(grant, version) for grant, version in grants]
        operations += [self.put_op(mapping.entry_to_item(e), "attribute_not_exists(PK)") for e in entries]
        self.transact(operations)

    # ------------------------------------------------------------------ grants
    def get_grant(self, account_id: str, grant_id: str) -> GrantRecord | None:
        ref = self.get_item(keys.grant_ref_key(account_id, grant_id))
        if ref is None:
            return None
        item = self.get_item({"PK": keys.customer_pk(account_id, ref["customerId"]), "SK": keys.grant_sk(grant_id)})
        return mapping.item_to_grant(item) if item else None

    def grant_deleted(self, account_id: str, grant_id: str) -> bool:
        ref = self.get_item(keys.grant_ref_key(account_id, grant_id))
        return ref is not None and "deletedAt" in ref

    def get_customer_grant(self, account_id: str, customer_id: str, grant_id: str) -> GrantRecord | None:
        item = self.get_item({"PK": keys.customer_pk(account_id, customer_id), "SK": keys.grant_sk(grant_id)})
        return mapping.item_to_grant(item) if item else None

    def customer_grants(self, account_id: str, customer_id: str) -> list[GrantRecord]:
        """Every grant of a customer, strongly consistent (balances reflect every committed write)."""
        kwargs = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
            "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                  ":sk": keys.GRANT_SK_PREFIX}),
            "ConsistentRead": True,
        }
        return [mapping.item_to_grant(item) for item in self.query_all(kwargs)]

    def burn_candidates(self, account_id: str, customer_id: str, grant_type: str, scope: str,
                        first_page: int = 16) -> Iterator[GrantRecord]:
        """The customer's spendable grants of one CASH currency / USAGE metric, in burn-down order
        (LSI1, strongly consistent), read as the caller asks for more: pages double in size, so
        an invoice that needs n grants costs O(log n) queries."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": "LSI1", "ConsistentRead": True, "Limit": first_page,
            "KeyConditionExpression": "PK = :pk AND begins_with(LSI1SK, :scope)",
            "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                  ":scope": keys.burn_scope(grant_type, scope)}),
        }
        return (mapping.item_to_grant(item) for item in paged_items(self.client, kwargs, doubling=True))

    def query_all(self, kwargs: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return paged_items(self.client, kwargs)

    def grant_creation_ops(self, grant: GrantRecord, entry: LedgerRecord | None,
                           notices: Iterable[GrantNotice] = ()) -> list[dict[str, Any]]:
        """What creating a grant writes: the grant, its id reference, its GRANTED entry (none for
        a grant awaiting payment, whose invoice notice is written instead), and the account's
        grant counter that account-wide lists report as totalResultSize."""
        ref = {**keys.grant_ref_key(grant.account_id, grant.id), "entity": "GRANT_REF", "customerId": grant.customer_id}
        return [
            self.grant_put_op(grant, None),
            self.put_op(ref, "attribute_not_exists(PK)"),
            *([self.put_op(mapping.entry_to_item(entry), "attribute_not_exists(PK)")] if entry is not None else []),
            *self.notice_ops(notices),
            *self.count_ops(grant, +1),
        ]

    def notice_ops(self, notices: Iterable[GrantNotice]) -> list[dict[str, Any]]:
        """Each grant notice once (its key is the grant and kind)."""
        return [self.put_op(mapping.grant_notice_to_item(n), "attribute_not_exists(PK)") for n in notices]

    def count_ops(self, grant: GrantRecord, delta: int) -> list[dict[str, Any]]:
        update = {"UpdateExpression": "ADD #total :delta, #kind :delta",
                  "ExpressionAttributeNames": {"#total": "total",
                                               "#kind": keys.grant_kind_counter(grant.type, grant.currency, grant.metric_id)},
                  "ExpressionAttributeValues": to_wire({":delta": delta})}
        key = keys.account_count_key(grant.account_id, keys.count_shard_of(grant.id))
        return [{"Update": {"TableName": self.table, "Key": to_wire(key), **update}}]

    def create_grant(self, grant: GrantRecord, entry: LedgerRecord | None, *, request_key: str | None = None,
                     notices: Iterable[GrantNotice] = (), extra: Iterable[dict[str, Any]] = ()) -> None:
        operations = self.grant_creation_ops(grant, entry, notices) + list(extra)
        if request_key is not None:
            now = int(time.time())
            claim = {**keys.grant_claim_key(grant.account_id, request_key), "entity": "GRANT_CLAIM",
                     "grantId": grant.id, "expiration": now + CLAIM_SECONDS}
            # An expired claim (DynamoDB's TTL deletes it within days) no longer holds the key.
            operations.append(self.put_op(claim, "attribute_not_exists(PK) OR expiration < :now", {":now": now}))
        self.transact(operations)

    def claimed_grant(self, account_id: str, request_key: str) -> GrantRecord | None:
        claim = self.get_item(keys.grant_claim_key(account_id, request_key))
        if claim is None or int(claim.get("expiration", 0)) < int(time.time()):
            return None
        return self.get_grant(account_id, claim["grantId"])

    def save_grant(self, grant: GrantRecord, expected_version: int, entries: Iterable[LedgerRecord] = (),
                   extra: Iterable[dict[str, Any]] = (), *, notices: Iterable[GrantNotice] = ()) -> None:
        """Replace a grant conditioned on the version read, with its ledger entries, atomically."""
        operations = [self.grant_put_op(grant, expected_version)]
        operations += [self.put_op(mapping.entry_to_item(e), "attribute_not_exists(PK)") for e in entries]
        operations += self.notice_ops(notices)
        operations += list(extra)
        self.transact(operations)

    def delete_grant(self, grant: GrantRecord, expected_version: int, entry: LedgerRecord) -> None:
        removed = aggregates.delta(grant.stored or {}, {})
        self.transact([
            {_AGGREGATE: (grant, removed), "Delete": {"TableName": self.table,
                        "Key": to_wire({"PK": keys.customer_pk(grant.account_id, grant.customer_id),
                                        "SK": keys.grant_sk(grant.id)}),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": to_wire({":v": expected_version})}},
            # The id reference stays as a tombstone: a later adjustment is told the grant was
            # deleted (409), not that it never existed.
            self.put_op({**keys.grant_ref_key(grant.account_id, grant.id), "entity": "GRANT_REF",
                       "customerId": grant.customer_id, "deletedAt": to_iso(entry.created_at)}),
            self.put_op(mapping.entry_to_item(entry), "attribute_not_exists(PK)"),
            *self.count_ops(grant, -1),
        ])

    def list_grants(self, account_id: str, query: GrantQuery, now: datetime) -> Page:
        values: dict[str, Any] = {}
        base: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True,
                                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)"}
        if query.customer_id:
            values.update({":pk": keys.customer_pk(account_id, query.customer_id), ":sk": keys.GRANT_SK_PREFIX})
        filters, names = [], {}
        for attr, value in (("grantType", query.type), ("currency", query.currency), ("metricId", query.metric_id)):
            if value is not None:
                filters.append(f"#{attr} = :{attr}")
                names[f"#{attr}"] = attr
                values[f":{attr}"] = value
        if query.status:
            expression = _STATUS_FILTERS[query.status]
            filters.append(expression)
            if ":now" in expression:
                values[":now"] = to_iso(now)
            if ":zero" in expression:
                values[":zero"] = Decimal(0)
        if not query.customer_id:
            # Account-wide: the grant counters answer totalResultSize, unless a status (which
            # depends on the instant of the read) filters: then only a count can tell.
            counted = None if query.status else (lambda: self._counted_grants(account_id, query))
            return self.sharded_page("grants", keys.account_grants_gsi1pks(account_id), low="cg_", high="cg_\uffff",
                                     limit=query.limit, after=query.after, before=query.before, account_id=account_id,
                                     mapper=mapping.item_to_grant, newest_first=True, filters=filters, names=names,
                                     values=values, total=counted)
        if filters:
            base["FilterExpression"] = " AND ".join(filters)
        if names:
            base["ExpressionAttributeNames"] = names
        base["ExpressionAttributeValues"] = to_wire(values)
        # A customer's grants are counted in its own partition (its size, not the table's).
        return self.page(base, ("PK", "SK"), query.limit, query.after, query.before, account_id,
                          mapping.item_to_grant, newest_first=True)

    def _counted_grants(self, account_id: str, query: GrantQuery) -> int:
        """How many of the account's grants match the type / currency / metric filters, from the
        grant counters: one BatchGetItem of the shards."""
        counters = self.batch_get([keys.account_count_key(account_id, s) for s in range(keys.COUNT_SHARDS)])
        total = 0
        for counter in counters:
            for name, value in counter.items():
                if not name.startswith(keys.COUNTER_PREFIX):
                    continue
                grant_type, currency, metric_id = name[len(keys.COUNTER_PREFIX):].split("|")
                if (query.type in (None, grant_type) and query.currency in (None, currency)
                        and query.metric_id in (None, metric_id)):
                    total += int(value)
        return total

    def batch_get(self, item_keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Items by key, strongly consistent, BatchGetItem per 100 keys (missing keys: absent)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(item_keys), 100):
            request: dict[str, Any] | None = {self.table: {
                "Keys": [to_wire(k) for k in item_keys[start:start + 100]], "ConsistentRead": True}}
            attempt = 0
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                found += [from_wire(raw) for raw in response.get("Responses", {}).get(self.table, [])]
                request = response.get("UnprocessedKeys") or None
                if request:  # throttled: back off a little before asking for the rest
                    attempt += 1
                    time.sleep(min(1.0, 0.02 * 2 ** attempt))
        return found

    # ------------------------------------------------------------------ applications
    def get_application(self, account_id: str, invoice_id: str) -> ApplicationRecord | None:
        item = self.get_item(keys.application_key(account_id, invoice_id))
        return mapping.item_to_application(item) if item else None

    def commit_application(self, app: ApplicationRecord, expected_version: int | None,
                           grants: Iterable[tuple[GrantRecord, int]], entries: Iterable[LedgerRecord]) -> None:
        """One chunk of an application, atomically: the application item (created, or conditioned
        on the version read), each grant conditioned on its version, and their ledger entries."""
        item = mapping.application_to_item(app)
        operations = [self.put_op(item, "attribute_not_exists(PK)") if expected_version is None
                      else self.put_op(item, "version = :v", {":v": expected_version})]
        operations += [self.grant_put_op(grant, version) for grant, version in grants]
        operations += [self.put_op(mapping.entry_to_item(e), "attribute_not_exists(PK)") for e in entries]
        self.transact(operations)

    # ------------------------------------------------------------------ ledger
    def list_ledger(self, account_id: str, customer_id: str, query: LedgerQuery) -> Page:
        values: dict[str, Any] = {":pk": keys.customer_pk(account_id, customer_id)}
        low = keys.ledger_sk("cbtxn_" + ulid_floor(int(query.start.timestamp() * 1000))) if query.start else keys.LEDGER_SK_PREFIX
        high = keys.ledger_sk("cbtxn_" + ulid_floor(int(query.end.timestamp() * 1000))[:10]) if query.end else keys.LEDGER_SK_PREFIX + "\uffff"
        values.update({":low": low, ":high": high})
        base: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True,
                                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high"}
        filters = []
        if query.grant_id:
            filters.append("grantId = :grantId")
            values[":grantId"] = query.grant_id
        if query.type:
            filters.append("entryType = :entryType")
            values[":entryType"] = query.type
        if filters:
            base["FilterExpression"] = " AND ".join(filters)
        base["ExpressionAttributeValues"] = to_wire(values)
        return self.page(base, ("PK", "SK"), query.limit, query.after, query.before, account_id,
                          mapping.item_to_entry, newest_first=False)

    def grant_ledger(self, account_id: str, customer_id: str, grant_id: str) -> list[LedgerRecord]:
        kwargs = {"TableName": self.table, "ConsistentRead": True,
                  "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                  "FilterExpression": "grantId = :g",
                  "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                        ":sk": keys.LEDGER_SK_PREFIX, ":g": grant_id})}
        return [mapping.item_to_entry(item) for item in self.query_all(kwargs)]

    def ledger_between(self, account_id: str, start: datetime | None, end: datetime, *,
                       customer_id: str | None = None) -> list[LedgerRecord]:
        """Every ledger entry created in [start, end) (start None: from the first), by creation
        time: the customer's partition when a customer is given, else the account's ledger index
        (GSI1). Entry ids are ULIDs minted after the request's instant (within a Lambda timeout),
        so the id range is widened by that and the instants decide."""
        low = "cbtxn_" + ulid_floor(int(start.timestamp() * 1000)) if start else "cbtxn_"
        high = "cbtxn_" + ulid_floor(int((end + _ID_AFTER_INSTANT).timestamp() * 1000))
        if customer_id:
            kwargs = {"TableName": self.table, "ConsistentRead": True,
                      "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
                      "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                            ":low": keys.ledger_sk(low), ":high": keys.ledger_sk(high)})}
            items: Iterable[dict[str, Any]] = self.query_all(kwargs)
        else:
            items = sharded.merged(self.client, table=self.table, partition_keys=keys.account_ledger_gsi1pks(account_id),
                                   low=low, high=high, descending=False, page_hint=sharded.MAX_PAGE)
        entries = (mapping.item_to_entry(item) for item in items)
        return sorted((e for e in entries if (start is None or e.created_at >= start) and e.created_at < end),
                      key=lambda e: (e.created_at, e.id))

    def report_snapshots(self, account_id: str, customer_id: str | None, *, before: datetime) -> list[tuple[datetime, Any]]:
        """The stored monthly report snapshots of months starting before `before`, oldest first."""
        kwargs = {"TableName": self.table, "ConsistentRead": True,
                  "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
                  "ExpressionAttributeValues": to_wire({
                      ":pk": keys.report_snapshot_pk(account_id, customer_id), ":low": keys.REPORT_SK_PREFIX,
                      ":high": keys.report_snapshot_sk(f"{before:%Y-%m}")})}
        out = []
        for item in self.query_all(kwargs):
            month = datetime.strptime(item["month"], "%Y-%m").replace(tzinfo=before.tzinfo)
            if month < before:
                out.append((month, Totals.from_json(item["totals"])))
        return out

    def put_report_snapshot(self, account_id: str, customer_id: str | None, month: datetime, totals: Any) -> None:
        self.client.put_item(TableName=self.table, Item=to_wire({
            "PK": keys.report_snapshot_pk(account_id, customer_id), "SK": keys.report_snapshot_sk(f"{month:%Y-%m}"),
            "entity": "REPORT_SNAPSHOT", "month": f"{month:%Y-%m}", "totals": totals.to_json()}))

    def first_ledger_instant(self, account_id: str, *, customer_id: str | None = None) -> datetime | None:
        """No entry was created before this instant (the first id's instant, less the time an id
        may be minted after its entry's instant); None without entries."""
        if customer_id:
            kwargs = {"TableName": self.table, "ConsistentRead": True, "Limit": 1,
                      "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                      "ExpressionAttributeValues": to_wire({":pk": keys.customer_pk(account_id, customer_id),
                                                            ":sk": keys.LEDGER_SK_PREFIX})}
            items = [from_wire(i) for i in self.client.query(**kwargs).get("Items", [])]
        else:
            items = list(itertools.islice(sharded.merged(
                self.client, table=self.table, partition_keys=keys.account_ledger_gsi1pks(account_id),
                low="cbtxn_", high="cbtxn_\uffff", descending=False, page_hint=1), 1))
        return mapping.item_to_entry(items[0]).created_at - _ID_AFTER_INSTANT if items else None

    def find_entry(self, account_id: str, entry_id: str) -> LedgerRecord | None:
        kwargs = {"TableName": self.table, "IndexName": "GSI1",
                  "KeyConditionExpression": "GSI1PK = :pk AND GSI1SK = :sk",
                  "ExpressionAttributeValues": to_wire({":pk": keys.account_ledger_gsi1pk(account_id, entry_id),
                                                        ":sk": entry_id})}
        for item in self.query_all(kwargs):
            return mapping.item_to_entry(item)
        return None

    # ------------------------------------------------------------------ paging
    def page(self, base: dict[str, Any], key_attrs: tuple[str, ...], limit: int, after: str | None,
              before: str | None, account_id: str, mapper: Callable[[dict[str, Any]], Any], *,
              newest_first: bool, total: Callable[[], int] | None = None) -> Page:
        """Cursor paging over a (possibly filtered) Query. `after` continues in list order from
        the item it names, `before` walks back from it; both are exclusive."""
        backwards = before is not None
        cursor = before if backwards else after
        kwargs = dict(base)
        kwargs["ScanIndexForward"] = (not newest_first) != backwards
        if cursor is not None:
            kwargs["ExclusiveStartKey"] = to_wire(self._decode_cursor(cursor, account_id, "before" if backwards else "after",
                                                                      key_attrs, _scope(base)))
        try:
            found, more = query_page(self.client, kwargs, limit)
        except self.client.exceptions.ClientError as exc:
            # A well-signed cursor whose key lies outside this query's range (another listing
            # of the same partition, or other from/to filters) is the caller's mistake.
            if cursor is None or exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            raise InvalidRequest(f"{'before' if backwards else 'after'} is not a cursor of this listing",
                                 field="before" if backwards else "after") from None
        if backwards:
            found.reverse()
        return self._page_of(found, more, backwards=backwards, continued=cursor is not None, key_attrs=key_attrs,
                             account_id=account_id, scope=_scope(base), mapper=mapper,
                             total=total() if total is not None else sharded.count(self.client, base))

    def sharded_page(self, listing: str, partition_keys: list[str], *, low: str, high: str, limit: int,
                     after: str | None, before: str | None, account_id: str, mapper: Callable[[dict[str, Any]], Any],
                     newest_first: bool, filters: list[str] | None = None, names: dict[str, str] | None = None,
                     values: dict[str, Any] | None = None, total: Callable[[], int] | None = None) -> Page:
        """Cursor paging over an account-wide list written in shards (store/sharded.py): the
        cursor is the GSI1SK of the page's edge item, a position in every shard at once."""
        backwards = before is not None
        cursor = before if backwards else after
        field = "before" if backwards else "after"
        scope = hashlib.sha256(f"GSI1|{listing}|{partition_keys[0]}".encode()).hexdigest()[:16]
        position = self._decode_cursor(cursor, account_id, field, ("GSI1SK",), scope)["GSI1SK"] if cursor else None
        query: dict[str, Any] = {"filter_expression": " AND ".join(filters) if filters else None,
                                 "names": names or None, "values": values or None}
        found, more = sharded.merged_page(self.client, table=self.table, partition_keys=partition_keys, low=low,
                                          high=high, limit=limit, cursor=position, backwards=backwards,
                                          newest_first=newest_first, **query)
        counted = total() if total is not None else sharded.merged_count(
            self.client, table=self.table, partition_keys=partition_keys, low=low, high=high, **query)
        return self._page_of(found, more, backwards=backwards, continued=cursor is not None, key_attrs=("GSI1SK",),
                             account_id=account_id, scope=scope, mapper=mapper, total=counted)

    def sorted_page(self, listing: str, items: list[dict[str, Any]], *, limit: int, after: str | None,
                    before: str | None, account_id: str, mapper: Callable[[dict[str, Any]], Any]) -> Page:
        """A page of items already read, newest GSI1SK first, with the cursors of sharded_page."""
        backwards = before is not None
        cursor = before if backwards else after
        scope = hashlib.sha256(f"sorted|{listing}".encode()).hexdigest()[:16]
        position = self._decode_cursor(cursor, account_id, "before" if backwards else "after", ("GSI1SK",),
                                       scope)["GSI1SK"] if cursor else None
        ordered = sorted(items, key=lambda item: item["GSI1SK"], reverse=True)
        if backwards:
            earlier = [item for item in ordered if item["GSI1SK"] > position]
            found, more = earlier[-limit:], len(earlier) > limit
        else:
            later = [item for item in ordered if position is None or item["GSI1SK"] < position]
            found, more = later[:limit], len(later) > limit
        return self._page_of(found, more, backwards=backwards, continued=cursor is not None, key_attrs=("GSI1SK",),
                             account_id=account_id, scope=scope, mapper=mapper, total=len(items))

    def _page_of(self, found: list[dict[str, Any]], more: bool, *, backwards: bool, continued: bool,
                 key_attrs: tuple[str, ...], account_id: str, scope: str, mapper: Callable[[dict[str, Any]], Any],
                 total: int) -> Page:
        """A page in list order and its cursors: `more` is whether the list goes on past it in
        the direction read; the other side goes on when the read started from a cursor."""
        has_before, has_after = (more, True) if backwards else (continued, more)
        next_after = self._encode_cursor(found[-1], key_attrs, account_id, scope) if found and has_after else None
        next_before = self._encode_cursor(found[0], key_attrs, account_id, scope) if found and has_before else None
        return Page(items=[mapper(i) for i in found], after=next_after, before=next_before, total=total)

    def _sign(self, payload: bytes) -> str:
        digest = hmac.new(self.settings.cursor_secret.encode(), payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _encode_cursor(self, item: dict[str, Any], key_attrs: tuple[str, ...], account_id: str, scope: str) -> str:
        payload = json.dumps({"a": account_id, "s": scope, "k": {k: item[k] for k in key_attrs}},
                             separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + self._sign(payload)

    def _decode_cursor(self, cursor: str, account_id: str, field: str, key_attrs: tuple[str, ...],
                       scope: str) -> dict[str, str]:
        try:
            body, signature = cursor.split(".", 1)
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if not hmac.compare_digest(signature, self._sign(payload)):
                raise ValueError("bad signature")
            data = json.loads(payload)
            # A cursor only continues the listing it came from (same account, index and partition).
            if data["a"] != account_id or data.get("s") != scope or not isinstance(data["k"], dict) \
                    or set(data["k"]) != set(key_attrs):
                raise ValueError("another listing's cursor")
            return {str(k): str(v) for k, v in data["k"].items()}
        except Exception:
            raise InvalidRequest(f"{field} is not a valid cursor", field=field) from None


def query_page(client, kwargs: dict[str, Any], limit: int,
               keep: Callable[[dict[str, Any]], bool] | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` items of a Query (in its order) and whether there are more. DynamoDB applies
    `Limit` before a FilterExpression, so it reads on until limit + 1 items pass."""
    kwargs = dict(kwargs)
    found: list[dict[str, Any]] = []
    while len(found) <= limit:
        kwargs["Limit"] = max(limit + 1 - len(found), 25)
        response = client.query(**kwargs)
        found.extend(item for item in map(from_wire, response.get("Items", [])) if keep is None or keep(item))
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return found[:limit], len(found) > limit


def _scope(base: dict[str, Any]) -> str:
    """What a cursor belongs to: the index, the partition and the kind of key range of the query
    (a customer's grants and its ledger share a partition)."""
    pk = from_wire(base["ExpressionAttributeValues"]).get(":pk", "")
    scope = f"{base.get('IndexName', 'table')}|{pk}|{base['KeyConditionExpression']}"
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


_NOT_VOIDED = "attribute_not_exists(voidedAt)"
_NOT_EXPIRED = "(attribute_not_exists(expiresAt) OR expiresAt > :now) AND attribute_not_exists(expiredAt)"
_EFFECTIVE = "effectiveAt <= :now"
# GrantRecord.status_at (domain/records.py) as DynamoDB filters, so a status filter is applied by
# the server; tests/e2e/test_grants_http.py holds the two to the same answers.
_PAID_FOR = "attribute_not_exists(awaitingPayment)"
_STATUS_FILTERS = {
    "VOIDED": "attribute_exists(voidedAt)",
    "EXPIRED": f"{_NOT_VOIDED} AND (expiresAt <= :now OR attribute_exists(expiredAt))",
    "AWAITING_PAYMENT": f"{_NOT_VOIDED} AND {_NOT_EXPIRED} AND attribute_exists(awaitingPayment)",
    "SCHEDULED": f"{_NOT_VOIDED} AND {_NOT_EXPIRED} AND {_PAID_FOR} AND effectiveAt > :now",
    "DEPLETED": f"{_NOT_VOIDED} AND {_NOT_EXPIRED} AND {_PAID_FOR} AND {_EFFECTIVE} AND currentBalance <= :zero",
    "ACTIVE": f"{_NOT_VOIDED} AND {_NOT_EXPIRED} AND {_PAID_FOR} AND {_EFFECTIVE} AND currentBalance > :zero",
}
