"""On DynamoDB Local: a table written by the previous version (account-wide GSI1 keys unsharded,
grants without balance aggregates, one account audit count) is brought to the current shape by
tools/migrate.upgrade; the lists and the entitlement check then see everything; a second run
changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from credits.models.api import CreateGrantRequest
from credits.services.consumptions import ConsumptionService
from credits.services.grants import GrantService
from credits.services.ports import GrantQuery
from credits.store.client import from_wire, to_wire


def _age(client, name: str) -> None:
    """Rewrite the table's items as the previous version wrote them."""
    for raw in client.scan(TableName=name)["Items"]:
        item = from_wire(raw)
        if item.get("entity") in ("GRANT", "LEDGER") and "GSI1PK" in item:
            item["GSI1PK"] = item["GSI1PK"].rsplit("#", 1)[0]
        if item.get("entity") == "GRANT":
            item.pop("aggregated", None)
        if item["SK"].startswith("BALANCE#"):
            continue  # no aggregates before: deleted below
        client.put_item(TableName=name, Item=to_wire(item))
    for raw in client.scan(TableName=name)["Items"]:
        if raw["SK"]["S"].startswith("BALANCE#"):
            client.delete_item(TableName=name, Key={"PK": raw["PK"], "SK": raw["SK"]})
    client.put_item(TableName=name, Item=to_wire({"PK": "ACCT#acct_old#AUDITCOUNT", "SK": "#ACCOUNT", "total": 7}))


def test_a_table_of_the_previous_version_is_upgraded_in_place(table):
    from credits.container import repository
    from tools.migrate import upgrade

    client, name = table
    repo = repository()
    grants = GrantService(repo)
    ids = [grants.create("acct_old", CreateGrantRequest(customerId=f"cus_{i % 3}", name="g", type="USAGE",
                                                        amount="10", metricId="api")).id for i in range(9)]
    _age(client, name)
    now = datetime.now(UTC)
    consumption = ConsumptionService(repo)
    assert repo.list_grants("acct_old", GrantQuery(limit=50), now).items == []  # unsharded: not found
    assert consumption.entitlement("acct_old", "cus_0", "api")[0] == 0  # no aggregate yet

    changed = upgrade(repo)
    assert changed == {"grants aggregated": 9, "ledger index keys sharded": 9, "audit counts sharded": 1}
    assert [g.id for g in repo.list_grants("acct_old", GrantQuery(limit=50), now).items] == sorted(ids, reverse=True)
    assert consumption.entitlement("acct_old", "cus_0", "api")[0] == Decimal(30)
    assert len(repo.ledger_between("acct_old", None, now)) == 9
    assert upgrade(repo) == {}
    counts = [from_wire(i) for i in client.scan(TableName=name)["Items"] if i["PK"]["S"] == "ACCT#acct_old#AUDITCOUNT"]
    assert [(c["SK"], c["total"]) for c in counts] == [("#ACCOUNT#0", 7)]
