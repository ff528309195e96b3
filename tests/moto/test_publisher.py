"""PublisherFunction: stream records -> EventBridge (moto), partial batch failures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from credits import container
from credits.events.from_stream import events_from_stream_record
from credits.models import events as ev
from credits.publish.eventbridge import EventBridgePublisher
from credits.settings import Settings
from moto import mock_aws

from tests.unit.event_samples import every_event_record, grant_item, ledger_items, stream_record

ROOT = Path(__file__).resolve().parents[2]
STREAM_TYPES = set(ev.EVENT_MODELS) - {ev.COMMAND_FAILED}


def _load_handler():
    spec = importlib.util.spec_from_file_location("fn_publisher_app", ROOT / "functions/publisher/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "EVENT_BUS_NAME": "credits-test",
                       "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                       # required settings (template Globals give every function both)
                       "TABLE_NAME": "credits-publisher-test", "CURSOR_SECRET": "publisher-test-secret"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EVENTS_ENDPOINT_URL", raising=False)
    container.reset()
    with mock_aws():
        events = boto3.client("events")
        sqs = boto3.client("sqs")
        events.create_event_bus(Name="credits-test")
        queue_url = sqs.create_queue(QueueName="sink")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName="credits-test", EventPattern=json.dumps({"source": ["credits.service"]}))
        events.put_targets(Rule="all", EventBusName="credits-test", Targets=[{"Id": "sink", "Arn": queue_arn}])
        yield sqs, queue_url
    container.reset()


def _drain(sqs, url):
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        out.extend(json.loads(m["Body"]) for m in messages)
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_every_event_type_reaches_the_bus(aws):
    sqs, url = aws
    records = every_event_record() + [stream_record(grant_item(), seq="300"),
                                      stream_record(ledger_items()["settled"], seq="301")]
    response = _load_handler().lambda_handler({"Records": records}, None)
    assert response == {"batchItemFailures": []}
    received = _drain(sqs, url)
    assert {e["detail-type"] for e in received} == STREAM_TYPES
    assert all(e["source"] == "credits.service" for e in received)
    expected = {e.id: json.loads(e.model_dump_json()) for r in records for e in events_from_stream_record(r)}
    assert {e["detail"]["id"]: e["detail"] for e in received} == expected
    assert len(received) == len(expected) == 9


def test_a_failing_publish_reports_exactly_that_record(aws, monkeypatch):
    module = _load_handler()
    published = []

    class Flaky:
        def publish(self, events):
            published.extend(events)
            return [e.type != ev.VOIDED for e in events]

    monkeypatch.setattr(module, "publisher", lambda: Flaky())
    records = every_event_record()
    voided_seq = next(r["dynamodb"]["SequenceNumber"] for r in records
                      if any(e.type == ev.VOIDED for e in events_from_stream_record(r)))
    response = module.lambda_handler({"Records": records}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": voided_seq}]}
    assert {e.type for e in published} == STREAM_TYPES  # the other records were all published


def test_redelivered_records_publish_the_same_ids(aws):
    sqs, url = aws
    module = _load_handler()
    records = every_event_record()
    module.lambda_handler({"Records": records}, None)
    first = sorted(e["detail"]["id"] for e in _drain(sqs, url))
    module.lambda_handler({"Records": records}, None)  # at-least-once: the stream redelivers
    assert sorted(e["detail"]["id"] for e in _drain(sqs, url)) == first


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
