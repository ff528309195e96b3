"""PublisherFunction: stream records -> an EventBridge bus -> a rule -> an SQS queue, on moto:
the one tier left on moto, since nothing local plays EventBridge rules and SQS targets
(partial batch failures and the adapter's PutEvents calls are in tests/unit/test_publishing.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from credits import container
from credits.events.from_stream import events_from_stream_record
from moto import mock_aws

from local.template import create_table
from tests.unit.event_samples import every_event_record, grant_item, ledger_items, stream_record
from tests.unit.test_publishing import LEDGER_STREAM_TYPES, load_publisher_handler


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "EVENT_BUS_NAME": "credits-test",
                       "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                       # required settings (template Globals give every function both)
                       "TABLE_NAME": "credits-publisher-test", "CURSOR_SECRET": "publisher-test-secret"}.items():
        monkeypatch.setenv(key, value)
    # The publisher also writes to the table (the customer directory): moto's, never an endpoint
    # left in this process's environment by an e2e stack of the same test worker.
    for key in ("EVENTS_ENDPOINT_URL", "DYNAMODB_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    container.reset()
    with mock_aws():
        # The publisher also moves customers forward in the directory (an UpdateItem on the table).
        create_table(boto3.client("dynamodb"), "credits-publisher-test")
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
    response = load_publisher_handler().lambda_handler({"Records": records}, None)
    assert response == {"batchItemFailures": []}
    received = _drain(sqs, url)
    assert {e["detail-type"] for e in received} == LEDGER_STREAM_TYPES
    assert all(e["source"] == "credits.service" for e in received)
    expected = {e.id: json.loads(e.model_dump_json()) for r in records for e in events_from_stream_record(r)}
    assert {e["detail"]["id"]: e["detail"] for e in received} == expected
    # 9 from v1's entries and notices; issue 15 adds adjusted, voided + refund_requested (a refunding
    # void), invoice_requested (a grant awaiting payment) and voided (its payment failed); issue 20
    # the top-up sample's granted, invoice_requested and topped_up.
    assert len(received) == len(expected) == 17


def test_redelivered_records_publish_the_same_ids(aws):
    sqs, url = aws
    module = load_publisher_handler()
    records = every_event_record()
    module.lambda_handler({"Records": records}, None)
    first = sorted(e["detail"]["id"] for e in _drain(sqs, url))
    module.lambda_handler({"Records": records}, None)  # at-least-once: the stream redelivers
    assert sorted(e["detail"]["id"] for e in _drain(sqs, url)) == first
