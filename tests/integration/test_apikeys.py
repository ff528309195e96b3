"""API keys: the api-key tool stores only a hash and makes admin keys; the authorizer maps a key
(Bearer or Basic) to its account, key and scope; revoking keeps one admin key at least, even with
revokes at once; lastUsedAt moves once a minute at most. The store rules run on the in-memory
fake and on DynamoDB Local alike (the ApiKeyStore port's contract)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credits.domain.actors import acting_as, api_key_actor
from credits.domain.errors import Conflict, NotFound
from credits.services.api_keys import ApiKeyService
from tests.fakes import InMemoryApiKeyStore

ROOT = Path(__file__).resolve().parents[2]


def _authorizer():
    spec = importlib.util.spec_from_file_location("test_fn_authorizer", ROOT / "functions" / "authorizer" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "dynamodb-local"])
def store(request):
    if request.param == "memory":
        return InMemoryApiKeyStore()
    request.getfixturevalue("table")
    from credits.container import repository
    from credits.store.api_keys_store import DynamoApiKeyStore

    return DynamoApiKeyStore(repository())


def test_api_key_command_prints_an_admin_key_stored_only_as_its_hash(table, monkeypatch, capsys):
    from credits.apikeys import main

    monkeypatch.setattr(sys, "argv", ["api-key", "acct_x"])
    main()
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk_") and len(key) > 30
    items = table.client.scan(TableName=table.name)["Items"]
    stored = str(items)
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored

    authorizer = _authorizer()
    basic = base64.b64encode(f"{key}:".encode()).decode()
    for header in (f"Bearer {key}", f"Basic {basic}", f"basic {basic}"):
        allowed = authorizer.lambda_handler({"headers": {"Authorization": header},
                                             "methodArn": "arn:aws:execute-api:us-east-1:1:api/prod/GET/credit-grants"}, None)
        context = allowed["context"]
        assert context["accountId"] == "acct_x" and context["scope"] == "admin"
        assert context["keyId"].startswith("key_") and context["keyName"]
        assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    wrong_password = base64.b64encode(f"{key}:secret".encode()).decode()
    for headers in ({"Authorization": "Bearer sk_unknown"}, {"Authorization": key}, {},
                    {"Authorization": "Basic !!!not-base64"}, {"Authorization": f"Basic {wrong_password}"},
                    {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:").decode()},
                    {"Authorization": "Basic " + base64.b64encode(b":").decode()}, {"Authorization": "Basic"}):
        with pytest.raises(Exception, match="Unauthorized"):
            authorizer.lambda_handler({"headers": headers, "methodArn": "arn:x"}, None)


def test_provisioning_is_once_and_a_revoked_key_stays_revoked(store):
    service = ApiKeyService(store)
    assert service.provision("acct_p", "sk_given") is True
    assert service.provision("acct_p", "sk_given") is False  # the local stack provisions at every start
    first = service.authenticate("sk_given")
    assert first is not None and first.scope == "admin" and first.account_id == "acct_p"
    other, _ = service.create("acct_p", "second admin", "admin")
    service.revoke("acct_p", first.id)
    assert service.provision("acct_p", "sk_given") is False
    assert service.authenticate("sk_given") is None
    assert service.authenticate(None) is None and service.authenticate("sk_nope") is None
    assert service.get("acct_p", other.id).revoked_at is None


def test_keys_are_listed_without_their_secret_and_scoped_to_their_account(store):
    service = ApiKeyService(store)
    with acting_as(api_key_actor("key_admin", "ops")):
        made = [service.create("acct_l", f"key {i}", scope)[0] for i, scope in enumerate(("read", "write", "admin"))]
    service.create("acct_other", "elsewhere", "read")
    page = service.list("acct_l", limit=2, after=None, before=None)
    seen = list(page.items)
    while page.after:
        page = service.list("acct_l", limit=2, after=page.after, before=None)
        seen += page.items
    assert [k.id for k in seen] == [k.id for k in made]
    assert [k.scope for k in seen] == ["read", "write", "admin"]
    assert seen[0].actor == {"type": "api_key", "id": "key_admin", "name": "ops"}
    with pytest.raises(NotFound):
        service.get("acct_other", made[0].id)


def test_the_last_admin_key_cannot_be_revoked_but_other_keys_can(store):
    service = ApiKeyService(store)
    admin, admin_secret = service.create("acct_r", "only admin", "admin")
    reader, reader_secret = service.create("acct_r", "support desk", "read")
    with pytest.raises(Conflict, match="last admin"):
        service.revoke("acct_r", admin.id)
    revoked = service.revoke("acct_r", reader.id)
    assert revoked.revoked_at is not None
    assert service.revoke("acct_r", reader.id).revoked_at == revoked.revoked_at  # twice: unchanged
    assert service.authenticate(reader_secret) is None
    assert service.authenticate(admin_secret).id == admin.id  # the admin key still works
    with pytest.raises(NotFound):
        service.revoke("acct_r", "key_missing")


def test_two_revokes_at_once_never_take_the_last_two_admin_keys(store):
    service = ApiKeyService(store)
    for round_ in range(3):
        account = f"acct_race_{round_}"
        keys = [service.create(account, f"admin {i}", "admin")[0] for i in range(2)]
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def revoke(key_id: str) -> None:
            barrier.wait()
            try:
                service.revoke(account, key_id)
                outcomes.append("revoked")
            except Conflict:
                outcomes.append("refused")

        threads = [threading.Thread(target=revoke, args=(k.id,)) for k in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refused", "revoked"]
        assert sum(service.get(account, k.id).revoked_at is None for k in keys) == 1


def test_last_used_at_moves_at_most_once_a_minute(store):
    clock = Clock()
    service = ApiKeyService(store, clock=clock)
    key, secret = service.create("acct_u", "busy", "write")
    assert key.last_used_at is None
    for _ in range(5):
        service.authenticate(secret)
    first = service.get("acct_u", key.id).last_used_at
    assert first == clock.now
    clock.now += timedelta(seconds=59)
    service.authenticate(secret)
    assert service.get("acct_u", key.id).last_used_at == first
    clock.now += timedelta(seconds=2)
    service.authenticate(secret)
    assert service.get("acct_u", key.id).last_used_at == clock.now
