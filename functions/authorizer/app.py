"""API Gateway REQUEST authorizer: `Authorization: Bearer <key>` -> the key's account."""

from __future__ import annotations

from typing import Any

from credits.apikeys import account_for, bearer_token

# Stripe's view answers a bad key with Stripe's own 401 body (which a static gateway response
# cannot give while the JSON API keeps its own): for a /v1 request, an unknown key is let through
# to the /v1 routes only, without an account, and the route answers 401 in Stripe's envelope.
STRIPE_PREFIX = "/v1/"


def _policy(principal: str, resource: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": context,
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = bearer_token(event.get("headers"))
    account = account_for(token) if token else None
    # Allow every route of the stage: the decision depends on the key only, so it can be cached.
    arn = event.get("methodArn", "*")
    stage_arn = "/".join(arn.split("/")[:2]) if "/" in arn else "*"
    if account is None:
        if str(event.get("path") or "").startswith(STRIPE_PREFIX) and stage_arn != "*":
            # Cached for the key like any policy: the key stays refused (ACCESS_DENIED -> 401) on
            # every route outside /v1, and reaches the /v1 routes with no account, which answer 401.
            return _policy("unauthenticated", stage_arn + "/*/v1/*", {"unauthenticated": "true"})
        raise Exception("Unauthorized")  # API Gateway answers 401 (GatewayResponses: UNAUTHORIZED)
    return _policy(account, stage_arn + "/*" if stage_arn != "*" else "*", {"accountId": account})
