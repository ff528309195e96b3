"""`/api-keys` (admin keys only: domain/access.py) and `GET /audit-events`, as two Powertools
routers: writes on GrantFunction (`grant_router`), reads on ListFunction (`list_router`), as
template.yaml maps them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from credits.api.resolver import account_id
from credits.api.views import api_key_list_view, api_key_view, audit_event_list_view, created_api_key_view
from credits.container import api_key_service, audit_service
from credits.domain.actors import current_actor
from credits.models.api import (
    ApiKey,
    ApiKeyList,
    AuditEventList,
    AuditEventQuery,
    CreateApiKeyRequest,
    CreatedApiKey,
    PageQuery,
    TransitionRequest,
)

grant_router = Router()
list_router = Router()

KeyId = Annotated[str, Path()]


@grant_router.post("/api-keys", status_code=201, summary="Create an API key (the key is shown in this answer only)")
def create_api_key(body: Annotated[CreateApiKeyRequest, Body()]) -> CreatedApiKey:
    return created_api_key_view(*api_key_service().create(account_id(grant_router), body.name, body.scope))


@grant_router.post("/api-keys/<keyId>/revoke", summary="Revoke an API key (never the account's last admin key)")
def revoke_api_key(keyId: KeyId, body: Annotated[TransitionRequest | None, Body()] = None) -> ApiKey:
    return api_key_view(api_key_service().revoke(account_id(grant_router), keyId))


@list_router.get("/api-keys", summary="List the account's API keys, oldest first (never the keys themselves)")
def list_api_keys(q: Annotated[PageQuery, Query()]) -> ApiKeyList:
    return api_key_list_view(api_key_service().list(account_id(list_router), limit=q.limit, after=q.after,
                                                    before=q.before))


@list_router.get("/api-keys/current", summary="The API key making this request (any scope may read itself)")
def get_current_api_key() -> ApiKey:
    return api_key_view(api_key_service().current(account_id(list_router), current_actor()))


@list_router.get("/api-keys/<keyId>", summary="Get an API key (never the key itself)")
def get_api_key(keyId: KeyId) -> ApiKey:
    return api_key_view(api_key_service().get(account_id(list_router), keyId))


@list_router.get("/audit-events", summary="Every change of the account: who, what, when, the resource, its reason; newest first")
def list_audit_events(q: Annotated[AuditEventQuery, Query()]) -> AuditEventList:
    return audit_event_list_view(audit_service().list(
        account_id(list_router), resource_id=q.resourceId, actor_id=q.actorId, actor_type=q.actorType, start=q.from_,
        end=q.to, limit=q.limit, after=q.after, before=q.before))
