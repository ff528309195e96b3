"""Issue 16's four defects, through the service's own handlers on DynamoDB Local."""

from __future__ import annotations

import pytest

from tests.lambda_calls import Api

pytestmark = pytest.mark.usefixtures("table")


@pytest.fixture
def api(table, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("UNFINISHED_GRACE_SECONDS", "0")
    return Api("acct_a")


def grant(api: Api, customer: str = "cus_1", amount: str = "10.00", **extra) -> dict:
    status, _, body = api.call("POST", "/credit-grants", body={
        "customerId": customer, "name": "g", "type": "CASH", "amount": amount, "currency": "USD", **extra})
    assert status == 201, body
    return body


def apply_body(invoice: str = "inv_1", amount: str = "25.00", currency: str = "USD", **extra) -> dict:
    return {"invoiceId": invoice, "customerId": "cus_1", "currency": currency,
            "lines": [{"lineId": "l1", "amount": amount}], **extra}


def crash_after_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller dies between chunks: one grant per chunk, and a crash after the first."""
    from credits import container

    service = container.application_service()

    def crash(index: int) -> None:
        raise SystemExit("killed between chunks")

    monkeypatch.setattr(service, "chunk_grants", 1)
    monkeypatch.setattr(service, "after_chunk", crash)


def crashed_apply(api: Api, monkeypatch: pytest.MonkeyPatch, **extra) -> None:
    from credits import container
    from credits.models.api import ApplyRequest

    for _ in range(3):
        grant(api)
    with monkeypatch.context() as patch:
        crash_after_first_chunk(patch)
        with pytest.raises(SystemExit):
            container.application_service().apply("acct_a", ApplyRequest.model_validate(apply_body(**extra)))


# ------------------------------------------------------------------ (1) cursors and ids in lists


def test_v1_grant_list_with_an_id_that_names_no_grant_is_stripes_resource_missing(api: Api):
    g = grant(api)
    for query in ({"starting_after": "a"}, {"ending_before": "zzz"}, {"starting_after": "a", "customer": "cus_1"},
                  {"ending_before": "zzz", "customer": "cus_1"}, {"starting_after": "cg_zzzz"}):
        status, _, body = api.call("GET", "/v1/billing/credit_grants", query=query)
        assert status == 400, (query, body)
        name = "starting_after" if "starting_after" in query else "ending_before"
        assert (body["error"]["code"], body["error"]["param"]) == ("resource_missing", name)
    # The id of a grant of the list pages normally.
    status, _, body = api.call("GET", "/v1/billing/credit_grants", query={"ending_before": g["id"]})
    assert status == 200 and body["data"] == [] and body["has_more"] is False


LISTS = [
    ("/credit-grants", {}), ("/credit-grants", {"customerId": "cus_1"}),
    ("/customers/cus_1/credit-transactions", {}), ("/credit-grant-schedules", {}),
    ("/credit-grant-schedules", {"customerId": "cus_1"}),
    ("/v1/billing/credit_grants", {}), ("/v1/billing/credit_grants", {"customer": "cus_1"}),
    ("/v1/billing/credit_balance_transactions", {"customer": "cus_1"}),
]
CURSORS = ["a", "zzz", "", ".", "..", "cg_", "cg_zzzz", "TXN#x", "\uffff", "0" * 200, "eyJhIjoiYWNjdF9hIn0.AAAA"]


@pytest.mark.parametrize("path,base", LISTS)
def test_every_list_answers_any_cursor_with_400_404_or_a_page(api: Api, path: str, base: dict):
    grant(api)
    names = ("starting_after", "ending_before") if path.startswith("/v1/") else ("after", "before")
    for name in names:
        for cursor in CURSORS:
            status, _, body = api.call("GET", path, query={**base, name: cursor})
            assert status in (200, 400, 404), (path, name, cursor, status, body)


def test_ledger_window_inside_one_millisecond_is_a_page_not_a_500(api: Api):
    grant(api)
    status, _, body = api.call("GET", "/customers/cus_1/credit-transactions",
                               query={"from": "2026-01-01T00:00:00.0001Z", "to": "2026-01-01T00:00:00.0009Z"})
    assert status in (200, 400), body
    if status == 200:
        assert body["items"] == []


# ------------------------------------------------------------------ (2) "try again" is never stored


def test_a_409_still_being_committed_is_not_stored_under_the_idempotency_key(api: Api, monkeypatch):
    crashed_apply(api, monkeypatch)
    key = {"Idempotency-Key": "settle-inv_1"}
    status, headers, body = api.call("POST", "/credit-applications/inv_1/settle", headers=key)
    assert status == 409 and headers.get("Retry-After"), body
    # The caller repeats its apply: it finishes.
    status, _, body = api.call("POST", "/credit-applications", body=apply_body())
    assert status in (200, 201) and body["status"] == "PENDING" and body["creditsApplied"] == "25.00", body
    status, _, body = api.call("POST", "/credit-applications/inv_1/settle", headers=key)
    assert status == 200 and body["status"] == "SETTLED", body
    # A final answer is stored: the same key replays it.
    status, _, again = api.call("POST", "/credit-applications/inv_1/settle", headers=key)
    assert status == 200 and again == body


def test_a_final_409_is_still_stored(api: Api):
    grant(api)
    key = {"Idempotency-Key": "k-final"}
    assert api.call("POST", "/credit-applications", body=apply_body(amount="5.00"))[0] == 201
    assert api.call("POST", "/credit-applications/inv_1/release")[0] == 200
    status, headers, _ = api.call("POST", "/credit-applications/inv_1/settle", headers=key)
    assert status == 409 and "Retry-After" not in headers
    status, headers, _ = api.call("POST", "/credit-applications/inv_1/settle", headers=key)
    assert status == 409 and "Retry-After" not in headers


# ------------------------------------------------------------------ (3) a crashed chunked apply


def test_a_crashed_apply_reads_committing_then_the_scheduled_run_finishes_it(api: Api, monkeypatch):
    crashed_apply(api, monkeypatch)
    status, _, body = api.call("GET", "/credit-applications/inv_1")
    assert status == 200 and body["status"] == "COMMITTING" and body["creditsApplied"] == "10.00", body
    summary = api.run_schedule()
    assert summary["applications"] == {"finished": 1, "failed": 0}
    status, _, body = api.call("GET", "/credit-applications/inv_1")
    assert body["status"] == "PENDING" and body["creditsApplied"] == "25.00" and body["totalDue"] == "0.00", body
    status, _, balance = api.call("GET", "/customers/cus_1/credit-balance")
    assert balance["balances"][0]["available"] == "5.00" and balance["balances"][0]["pending"] == "25.00"
    # Nothing is left on the queue: the next run finds nothing.
    assert api.run_schedule()["applications"] == {"finished": 0, "failed": 0}
    # The same request again is a replay of the finished application.
    status, _, again = api.call("POST", "/credit-applications", body=apply_body())
    assert status == 200 and again["creditsApplied"] == "25.00"


def test_a_crashed_apply_with_settle_is_finished_and_settled(api: Api, monkeypatch):
    crashed_apply(api, monkeypatch, settle=True)
    api.run_schedule()
    status, _, body = api.call("GET", "/credit-applications/inv_1")
    assert body["status"] == "SETTLED" and body["creditsApplied"] == "25.00", body


def test_a_fresh_unfinished_apply_is_left_to_its_caller_within_the_grace(api: Api, monkeypatch):
    from credits import container

    crashed_apply(api, monkeypatch)
    monkeypatch.setenv("UNFINISHED_GRACE_SECONDS", "3600")
    container.reset()  # settings are read once per process: a new process would read this grace
    assert api.run_schedule()["applications"] == {"finished": 0, "failed": 0}
    assert api.call("GET", "/credit-applications/inv_1")[2]["status"] == "COMMITTING"


# ------------------------------------------------------------------ (4) release after void, spelling, ids


def test_release_after_void_publishes_voided_with_the_invoice(api: Api, table):
    from credits.events.from_stream import events_from_ledger_item
    from credits.store.client import from_wire

    g = grant(api)
    assert api.call("POST", "/credit-applications", body=apply_body(amount="4.00"))[0] == 201
    assert api.call("POST", f"/credit-grants/{g['id']}/void", body={"reason": "fraud"})[0] == 200
    assert api.call("POST", "/credit-applications/inv_1/release")[0] == 200
    items = [from_wire(i) for i in table.client.scan(TableName=table.name)["Items"]]
    voided = [e for item in items if item.get("entity") == "LEDGER" and item.get("entryType") == "VOIDED"
              for e in events_from_ledger_item(item) if e.type == "account.credits.voided"]
    by_invoice = [e for e in voided if e.data.amount == "4.00"]
    assert len(by_invoice) == 1 and by_invoice[0].data.invoiceId == "inv_1"


def test_the_same_invoice_in_another_spelling_is_a_replay_not_a_conflict(api: Api):
    grant(api)
    status, _, first = api.call("POST", "/credit-applications", body=apply_body(amount="5.00", currency="usd"))
    assert status == 201, first
    status, _, again = api.call("POST", "/credit-applications", body=apply_body(amount="5.0", currency="USD"))
    assert status == 200 and again == first
    status, _, body = api.call("POST", "/credit-applications", body=apply_body(amount="6.00"))
    assert status == 409, body


@pytest.mark.parametrize("customer", [".", ".."])
def test_dot_customer_ids_are_refused(api: Api, customer: str):
    status, _, body = api.call("POST", "/credit-grants", body={
        "customerId": customer, "name": "g", "type": "CASH", "amount": "1.00", "currency": "USD"})
    assert status == 400 and body["error"]["details"][0]["field"] == "customerId", body
    status, _, body = api.call("POST", "/credit-applications", body={**apply_body(), "customerId": customer})
    assert status == 400 and body["error"]["details"][0]["field"] == "customerId", body
    status, _, body = api.call("POST", "/v1/billing/credit_grants", body={
        "customer": customer, "amount[type]": "monetary", "amount[monetary][currency]": "usd",
        "amount[monetary][value]": "100", "applicability_config[scope][price_type]": "metered"})
    assert status == 400 and body["error"]["param"] == "customer", body
