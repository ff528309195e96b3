"""API Gateway REQUEST authorizer: the API key of the Authorization header (`Bearer <key>`, or
HTTP Basic with the key as user name) -> its account, key id, name and scope. The scope is
enforced by each function (api/resolver.py), so the policy allows the whole stage and API Gateway
may cache it per header value (ReauthorizeEvery in template.yaml bounds how long a revoked key
keeps working)."""

from __future__ import annotations

from typing import Any

from credits.container import api_key_authenticator
from credits.domain.access import api_key_from_headers

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
    key = api_key_authenticator().authenticate(api_key_from_headers(event.get("headers")))
    # Allow every route of the stage: the decision depends on the key only, so it can be cached.
    arn = event.get("methodArn", "*")
    stage_arn = "/".join(arn.split("/")[:2]) if "/" in arn else "*"
    if key is None:
        if str(event.get("path") or "").startswith(STRIPE_PREFIX) and stage_arn != "*":
            # Cached for the key like any policy: the key stays refused (ACCESS_DENIED -> 401) on
            # every route outside /v1, and reaches the /v1 routes with no account, which answer 401.
            return _policy("unauthenticated", stage_arn + "/*/v1/*", {"unauthenticated": "true"})
        raise Exception("Unauthorized")  # API Gateway answers 401 (GatewayResponses: UNAUTHORIZED)
    return _policy(key.account_id, stage_arn + "/*" if stage_arn != "*" else "*",
                   {"accountId": key.account_id, "keyId": key.id, "keyName": key.name, "scope": key.scope})
