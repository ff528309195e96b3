"""API Gateway REQUEST authorizer: the API key of the Authorization header (`Bearer <key>`, or
HTTP Basic with the key as user name) -> its account, key id, name and scope. The scope is
enforced by each function (api/resolver.py), so the policy allows the whole stage and API Gateway
may cache it per header value (ReauthorizeEvery in template.yaml bounds how long a revoked key
keeps working)."""

from __future__ import annotations

from typing import Any

from credits.container import api_key_service
from credits.domain.access import api_key_from_headers


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = api_key_service().authenticate(api_key_from_headers(event.get("headers")))
    if key is None:
        raise Exception("Unauthorized")  # API Gateway answers 401 (GatewayResponses: UNAUTHORIZED)
    arn = event.get("methodArn", "*")
    stage_arn = "/".join(arn.split("/")[:2]) + "/*" if "/" in arn else "*"
    return {
        "principalId": key.account_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_arn}],
        },
        "context": {"accountId": key.account_id, "keyId": key.id, "keyName": key.name, "scope": key.scope},
    }
