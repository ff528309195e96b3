"""API Gateway REQUEST authorizer: `Authorization: Bearer <key>` -> the key's account."""

from __future__ import annotations

from typing import Any

from credits.apikeys import account_for, bearer_token


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = bearer_token(event.get("headers"))
    account = account_for(token) if token else None
    if account is None:
        raise Exception("Unauthorized")  # API Gateway answers 401 (GatewayResponses: UNAUTHORIZED)
    # Allow every route of the stage: the decision depends on the key only, so it can be cached.
    arn = event.get("methodArn", "*")
    stage_arn = "/".join(arn.split("/")[:2]) + "/*" if "/" in arn else "*"
    return {
        "principalId": account,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_arn}],
        },
        "context": {"accountId": account},
    }
