"""store/items.audit_of_change: which committed writes are audit events, with whose actor."""

from __future__ import annotations

from datetime import UTC, datetime

from credits.domain.actors import acting_as, api_key_actor, system_actor
from credits.domain.records import ApiKeyRecord, ScheduleRecord, TaxRateRecord
from credits.store.items import (
    api_key_to_item,
    audit_of_change,
    audit_to_item,
    item_to_audit,
    schedule_to_item,
    tax_rate_to_item,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ALICE, BOB = api_key_actor("key_a", "Alice"), api_key_actor("key_b", "Bob")


def test_keys_made_and_revoked_name_who_did_it_and_other_key_writes_are_no_event():
    with acting_as(ALICE):
        key = ApiKeyRecord(id="key_1", account_id="acct", name="desk", scope="read", key_hash="h", created_at=NOW)
    made = audit_of_change(None, api_key_to_item(key))
    assert (made.action, made.resource_id, made.actor) == ("api_key.created", "key_1", ALICE)
    touched = api_key_to_item(key.evolve(last_used_at=NOW))
    assert audit_of_change(api_key_to_item(key), touched) is None  # lastUsedAt: not a change of the account
    revoked = audit_of_change(touched, api_key_to_item(key.evolve(revoked_at=NOW, revoked_by=BOB)))
    assert (revoked.action, revoked.actor) == ("api_key.revoked", BOB)
    assert item_to_audit(audit_to_item(revoked)) == revoked  # stored and read back unchanged


def test_schedules_and_tax_rates():
    with acting_as(ALICE):
        schedule = ScheduleRecord(id="cgs_1", account_id="acct", customer_id="cus", template={}, interval="MONTH",
                                  interval_count=1, start_at=NOW, end_at=None, expire_after_intervals=None,
                                  status="ACTIVE", next_index=0, next_grant_at=NOW, created_at=NOW, updated_at=NOW)
        rate = TaxRateRecord(id="txr_1", account_id="acct", name="VAT", percentage="20", inclusive=False, active=True,
                             created_at=NOW, updated_at=NOW)
    assert audit_of_change(None, schedule_to_item(schedule)).action == "credit_grant_schedule.created"
    with acting_as(system_actor("schedule")):
        advanced = schedule.evolve(next_index=1)
    assert audit_of_change(schedule_to_item(schedule), schedule_to_item(advanced)) is None
    canceled = schedule.evolve(status="CANCELED", canceled_at=NOW, canceled_by=BOB, next_grant_at=None)
    event = audit_of_change(schedule_to_item(schedule), schedule_to_item(canceled))
    assert (event.action, event.actor, event.customer_id) == ("credit_grant_schedule.canceled", BOB, "cus")
    assert audit_of_change(None, tax_rate_to_item(rate)).actor == ALICE
    renamed = {**tax_rate_to_item(rate), "name": "VAT 20", "updatedBy": BOB}
    assert (audit_of_change(tax_rate_to_item(rate), renamed).action, audit_of_change(tax_rate_to_item(rate), renamed).actor) \
        == ("tax_rate.updated", BOB)
    assert audit_of_change(None, None) is None and audit_of_change(None, {"PK": "x", "SK": "y"}) is None


def test_a_grant_edit_without_a_ledger_entry_is_an_event_and_a_balance_change_is_not():
    from tests.unit.event_samples import grant_item

    before = grant_item()
    renamed = {**before, "name": "Renamed", "priority": 7, "updatedBy": ALICE}
    event = audit_of_change(before, renamed)
    assert (event.action, event.actor, event.data) == ("credit_grant.updated", ALICE, {"changed": {"name": "Renamed", "priority": 7}})
    spent = {**before, "currentBalance": 0, "version": 9}  # its APPLIED entry is the event
    assert audit_of_change(before, spent) is None


def test_alerts_rules_and_test_clocks_are_audited_with_who_did_it_and_crossings_are_not():
    from decimal import Decimal

    from credits.domain.records import TestClockRecord, WatchRecord
    from credits.store.items import test_clock_to_item, watch_to_item

    with acting_as(ALICE):
        rule = WatchRecord(id="ctr_1", kind="TOP_UP", account_id="acct", customer_id="cus", type="CASH", currency="USD",
                           metric_id=None, threshold=Decimal("5.00"), state="ABOVE", created_at=NOW, updated_at=NOW,
                           grant={"name": "t", "type": "CASH", "amount": "1.00", "currency": "USD"}, max_per_month=2)
        clock = TestClockRecord(id="clock_1", account_id="acct", name="c", frozen_time=NOW, status="READY",
                                created_at=NOW, updated_at=NOW)
    made = audit_of_change(None, watch_to_item(rule))
    assert (made.action, made.resource_id, made.actor) == ("credit_top_up_rule.created", "ctr_1", ALICE)
    crossed = rule.evolve(state="BELOW", month="2026-03", month_count=1, version=1)
    assert audit_of_change(watch_to_item(rule), watch_to_item(crossed)) is None  # the balance moved it
    patched = crossed.evolve(max_per_month=3, changed_by=BOB, version=2)
    changed = audit_of_change(watch_to_item(crossed), watch_to_item(patched))
    assert (changed.action, changed.actor) == ("credit_top_up_rule.updated", BOB)
    marked = patched.evolve(deleted_at=NOW, changed_by=ALICE, version=3)
    deleted = audit_of_change(watch_to_item(patched), watch_to_item(marked))
    assert (deleted.action, deleted.actor) == ("credit_top_up_rule.deleted", ALICE)
    alert = audit_of_change(None, watch_to_item(rule.evolve(kind="ALERT", id="cba_1", grant=None)))
    assert alert.action == "credit_balance_alert.created"

    assert audit_of_change(None, test_clock_to_item(clock)).action == "test_clock.created"
    advancing = clock.evolve(status="ADVANCING", changed_by=BOB, version=1)
    advanced = audit_of_change(test_clock_to_item(clock), test_clock_to_item(advancing))
    assert (advanced.action, advanced.actor) == ("test_clock.advanced", BOB)
    with acting_as(system_actor("test_clock")):
        step = advancing.evolve(frozen_time=NOW.replace(day=2), version=2)
    assert audit_of_change(test_clock_to_item(advancing), test_clock_to_item(step)) is None  # the worker's step
    gone = audit_of_change(test_clock_to_item(step), test_clock_to_item(step.evolve(status="DELETING", changed_by=ALICE)))
    assert (gone.action, gone.actor) == ("test_clock.deleted", ALICE)
