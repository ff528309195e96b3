"""Stream record -> events: every event type, deterministic ids, nothing for other writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from credits.events.from_stream import events_from_stream_record
from credits.models import events as ev

from tests.unit.event_samples import every_event_record, grant_item, ledger_items, notice_item, stream_record
from tools.event_schemas import write_schemas

ROOT = Path(__file__).resolve().parents[2]
# command_failed is published directly; balance_low / balance_recovered come from balance aggregates'
# stream records (events/balance_crossings.py, tested on its own)
STREAM_TYPES = set(ev.EVENT_MODELS) - {ev.COMMAND_FAILED, ev.BALANCE_LOW, ev.BALANCE_RECOVERED}


def _events(label: str):
    return events_from_stream_record(stream_record(ledger_items()[label]))


def test_every_stream_event_type_is_produced():
    produced = [e for r in every_event_record() for e in events_from_stream_record(r)]
    assert {e.type for e in produced} == STREAM_TYPES
    assert len({e.id for e in produced}) == len(produced)  # unique per event


def test_a_top_up_grant_publishes_topped_up_with_its_rule():
    by_type = {e.type: e for e in _events("topped_up")}
    granted, topped = by_type[ev.GRANTED], by_type[ev.TOPPED_UP]
    assert topped.data.topUpRuleId == "ctr_1" and ev.INVOICE_REQUESTED in by_type
    assert topped.data.grant.id == granted.data.grant.id == topped.grantId
    assert topped.id != granted.id


def test_granted_carries_the_grant_view_and_invoice_request():
    granted, invoice = _events("granted")
    assert granted.type == ev.GRANTED and granted.grantId == granted.data.grant.id
    assert granted.data.grant.invoiceRequested is True and granted.data.grant.originalAmount == "50.00"
    assert invoice.type == ev.INVOICE_REQUESTED
    assert invoice.data.model_dump() == {"costOfCredit": "50.00", "currency": "USD", "taxRateId": "txr_vat20", "taxRate": None,
                                         "name": "On-boarding credits", "type": "CASH", "originalAmount": "50.00",
                                         "metricId": None}


def test_granted_without_generate_invoice_publishes_one_event():
    item = ledger_items()["granted"]
    item["grant"]["invoiceRequested"] = False
    assert [e.type for e in events_from_stream_record(stream_record(item))] == [ev.GRANTED]


def test_applied_with_depletion_publishes_balance_depleted():
    applied, depleted = _events("applied")
    assert applied.type == ev.APPLIED
    assert (applied.data.amount, applied.data.balanceAfter, applied.data.invoiceId, applied.data.lineId) == \
        ("50.00", "0.00", "inv_1001", "l2")
    assert depleted.type == ev.BALANCE_DEPLETED and depleted.grantId is None
    assert depleted.data.model_dump() == {"type": "CASH", "currency": "USD", "metricId": None, "invoiceId": "inv_1001"}


def test_usage_amounts_are_units():
    (applied,) = _events("usage_applied")
    assert (applied.data.type, applied.data.metricId, applied.data.amount) == ("USAGE", "api_calls", "2000")


@pytest.mark.parametrize("label,kind", [("released", ev.RELEASED), ("voided", ev.VOIDED), ("expired", ev.EXPIRED)])
def test_single_event_entries(label, kind):
    (event,) = _events(label)
    item = ledger_items()[label]
    assert event.type == kind
    assert (event.accountId, event.customerId, event.grantId, event.occurredAt) == \
        (item["accountId"], item["customerId"], item["grantId"], item["createdAt"])


def test_voided_has_reason_and_expired_the_written_off_balance():
    (voided,) = _events("voided")
    assert voided.data.reason == "customer churned" and voided.data.amount == "50.00"
    (expired,) = _events("expired")
    assert (expired.data.amount, expired.data.balanceAfter) == ("8000", "0")


def test_expiring_soon_from_notice_item():
    (event,) = events_from_stream_record(stream_record(notice_item()))
    assert event.type == ev.EXPIRING_SOON
    assert event.data.model_dump() == {"type": "CASH", "currency": "USD", "metricId": None,
                                       "name": "On-boarding credits", "expiresAt": "2026-03-31T12:00:00Z",
                                       "expiryDate": "2026-03-31", "currentBalance": "50.00"}


def test_ids_are_deterministic_across_redelivery():
    first = [e.id for r in every_event_record() for e in events_from_stream_record(r)]
    again = [e.id for r in every_event_record() for e in events_from_stream_record(r)]
    assert first == again
    assert all(i.startswith("evt_") and len(i) == 30 for i in first)


def test_other_writes_publish_nothing():
    items = ledger_items()
    assert events_from_stream_record(stream_record(items["settled"])) == []
    assert events_from_stream_record(stream_record(grant_item())) == []  # grant item INSERT
    granted = items["granted"]
    assert events_from_stream_record(stream_record(granted, "MODIFY", old=granted)) == []
    assert events_from_stream_record(stream_record(granted, "REMOVE")) == []
    assert events_from_stream_record(stream_record(notice_item(), "REMOVE")) == []  # TTL deletion


def test_powertools_record_accepted():
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    record = every_event_record()[0]
    assert events_from_stream_record(DynamoDBRecord(record)) == events_from_stream_record(record)


def test_envelope_round_trips_through_the_models():
    for record in every_event_record():
        for event in events_from_stream_record(record):
            detail = json.loads(event.model_dump_json())
            assert set(detail) == {"id", "type", "accountId", "customerId", "grantId", "occurredAt", "actor",
                                   "testClockId", "data"}
            assert ev.EVENT_MODELS[detail["type"]].model_validate(detail) == event


def test_command_failed_event():
    error = {"error": {"code": "validation_error", "message": "amount is required", "details": []}}
    a = ev.command_failed_event("acct_a", "cmd-1", "Grant Credits", error, "2026-03-01T12:00:00Z")
    b = ev.command_failed_event("acct_a", "cmd-1", "Grant Credits", error, "2026-03-01T12:00:01Z")
    assert a.id == b.id and a.customerId is None and a.data.commandId == "cmd-1"


def test_json_schemas_validate_the_examples_and_docs_are_current():
    jsonschema = pytest.importorskip("jsonschema")
    schemas = ev.json_schemas()
    assert set(schemas) == set(ev.EVENT_MODELS)
    for record in every_event_record():
        for event in events_from_stream_record(record):
            jsonschema.validate(json.loads(event.model_dump_json()), schemas[event.type])


def test_schema_files_are_current(tmp_path):
    """docs/events/*.schema.json are generated from the models: regenerate and compare."""
    write_schemas(str(tmp_path))
    docs = ROOT / "docs" / "events"
    for fresh in tmp_path.iterdir():
        committed = docs / fresh.name
        assert committed.exists() and committed.read_text() == fresh.read_text(), \
            f"{committed} is stale: run `python -m tools.event_schemas docs/events`"


def test_adjusted_and_refund_requested():
    (adjusted,) = _events("adjusted")
    assert adjusted.type == ev.ADJUSTED
    assert (adjusted.data.direction, adjusted.data.amount, adjusted.data.balanceAfter, adjusted.data.reason) == (
        "INCREASE", "5.00", "55.00", "goodwill")
    voided, refund = _events("refunded")
    assert voided.type == ev.VOIDED and refund.type == ev.REFUND_REQUESTED
    # 50.00 left x costOfCredit 40.00 / originalAmount 50.00
    assert (refund.data.refundAmount, refund.data.currency, refund.data.voidedAmount) == ("40.00", "USD", "50.00")


def test_grant_notices_publish_invoice_requested_and_the_failed_payments_void():
    from tests.unit.event_samples import grant_notice_items

    notices = grant_notice_items()
    (invoice,) = events_from_stream_record(stream_record(notices["invoice_requested"]))
    assert invoice.type == ev.INVOICE_REQUESTED and invoice.data.costOfCredit == "45.00"
    (voided,) = events_from_stream_record(stream_record(notices["payment_failed"]))
    assert voided.type == ev.VOIDED and (voided.data.reason, voided.data.amount) == ("payment failed", "0.00")
    assert voided.data.invoiceId == "in_77"


def test_a_paid_grants_granted_entry_does_not_request_its_invoice_again():
    from credits.domain.paid_rules import record_payment
    from credits.store import items as mapping

    from tests.unit.event_samples import T0, grant

    gated = grant(id="cg_01JNKZ8X0000000000000000EE", requirePayment=True, costOfCredit="45.00")
    _, (granted,), _ = record_payment(gated, "PAID", "in_5", T0)
    events = events_from_stream_record(stream_record(mapping.entry_to_item(granted)))
    assert [e.type for e in events] == [ev.GRANTED]
    assert events[0].data.grant.status == "ACTIVE" and events[0].data.grant.currentBalance == "50.00"
