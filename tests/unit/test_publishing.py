"""PublisherFunction and the EventBridge adapter without AWS: partial batch failures (a fake
publisher), batches of ten and per-entry results (a fake EventBridge client's PutEvents)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from credits import container
from credits.events.from_stream import events_from_stream_record
from credits.models import events as ev
from credits.publish.eventbridge import EventBridgePublisher
from credits.settings import Settings

from tests.unit.event_samples import every_event_record

ROOT = Path(__file__).resolve().parents[2]
# balance_low / balance_recovered come from balance aggregates (events/balance_crossings.py), not these samples
STREAM_TYPES = set(ev.EVENT_MODELS) - {ev.COMMAND_FAILED, ev.BALANCE_LOW, ev.BALANCE_RECOVERED}


def load_publisher_handler():
    spec = importlib.util.spec_from_file_location("fn_publisher_app", ROOT / "functions/publisher/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def settings_env(monkeypatch):
    """The required settings (template Globals give every function both), no AWS at all."""
    for key, value in {"TABLE_NAME": "credits-publisher-test", "CURSOR_SECRET": "publisher-test-secret",
                       "EVENT_BUS_NAME": "credits-test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    container.reset()
    yield
    container.reset()


def test_a_failing_publish_reports_exactly_that_record(settings_env, monkeypatch):
    module = load_publisher_handler()
    published = []

    class Flaky:
        def publish(self, events):
            published.extend(events)
            return [e.type != ev.VOIDED for e in events]

    monkeypatch.setattr(module, "publisher", lambda: Flaky())
    noted = []

    class Directory:
        def note_activity(self, entries):
            noted.extend(entries)

    monkeypatch.setattr(module, "customer_service", lambda: Directory())
    records = every_event_record()
    voided_seq = next(r["dynamodb"]["SequenceNumber"] for r in records
                      if any(e.type == ev.VOIDED for e in events_from_stream_record(r)))
    response = module.lambda_handler({"Records": records}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": voided_seq}]}
    assert {e.type for e in published} == STREAM_TYPES  # the other records were all published
    # Every committed ledger entry also moved its customer forward in the directory.
    assert len(noted) == sum(1 for r in records if r["dynamodb"]["NewImage"].get("entity", {}).get("S") == "LEDGER")
    assert noted and all(e.id.startswith("cbtxn_") for e in noted)


class _FakeClient:
    def __init__(self, fail_types=(), raise_on_call=None):
        self.calls, self.fail_types, self.raise_on_call = [], set(fail_types), raise_on_call

    def put_events(self, Entries):
        self.calls.append(Entries)
        if self.raise_on_call == len(self.calls):
            raise RuntimeError("network down")
        return {"FailedEntryCount": 0, "Entries": [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "x"} if e["DetailType"] in self.fail_types
            else {"EventId": f"id{i}"} for i, e in enumerate(Entries)]}


def _many(n):
    events = [e for r in every_event_record() for e in events_from_stream_record(r)]
    return (events * (n // len(events) + 1))[:n]


def test_adapter_batches_of_ten_and_reports_per_entry():
    client = _FakeClient(fail_types={ev.EXPIRED})
    publisher = EventBridgePublisher(Settings(table_name="t", cursor_secret="publisher-test-secret", event_bus_name="bus"), client=client)
    events = _many(23)
    results = publisher.publish(events)
    assert [len(c) for c in client.calls] == [10, 10, 3]
    assert results == [e.type != ev.EXPIRED for e in events]
    entry = client.calls[0][0]
    assert (entry["Source"], entry["EventBusName"], entry["DetailType"]) == ("credits.service", "bus", events[0].type)
    assert json.loads(entry["Detail"]) == json.loads(events[0].model_dump_json())


def test_adapter_failed_call_fails_its_batch_only():
    client = _FakeClient(raise_on_call=2)
    results = EventBridgePublisher(Settings(table_name="t", cursor_secret="publisher-test-secret"), client=client).publish(_many(15))
    assert results == [True] * 10 + [False] * 5


def test_adapter_accepts_envelope_dicts():
    client = _FakeClient()
    event = json.loads(_many(1)[0].model_dump_json())
    assert EventBridgePublisher(Settings(table_name="t", cursor_secret="publisher-test-secret"), client=client).publish([event]) == [True]
    assert client.calls[0][0]["DetailType"] == event["type"]
