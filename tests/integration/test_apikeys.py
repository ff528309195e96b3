"""API keys on DynamoDB Local: `make api-key` stores only a hash; the authorizer maps a key to its account."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _authorizer():
    spec = importlib.util.spec_from_file_location("test_fn_authorizer", ROOT / "functions" / "authorizer" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_key_command_prints_a_key_stored_only_as_its_hash(table, monkeypatch, capsys):
    from credits.apikeys import main

    monkeypatch.setattr(sys, "argv", ["api-key", "acct_x"])
    main()
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk_") and len(key) > 30
    items = table.client.scan(TableName=table.name)["Items"]
    assert len(items) == 1
    stored = str(items[0])
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored

    authorizer = _authorizer()
    allowed = authorizer.lambda_handler({"headers": {"Authorization": f"Bearer {key}"},
                                         "methodArn": "arn:aws:execute-api:us-east-1:1:api/prod/GET/credit-grants"}, None)
    assert allowed["context"] == {"accountId": "acct_x"}
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    for headers in ({"Authorization": "Bearer sk_unknown"}, {"Authorization": key}, {}):
        with pytest.raises(Exception, match="Unauthorized"):
            authorizer.lambda_handler({"headers": headers, "methodArn": "arn:x"}, None)
