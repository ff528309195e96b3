"""EventBridge commands in: `Grant Credits`, `Void Credit Grant`, `Apply Credits`,
`Settle Credit Application`, `Release Credit Application`, `Consume Credits`.

`handle_command` is the `commands` (and `direct`) callable of `api.lambda_entry`: it validates the
envelope and the `detail` with pydantic, calls the same domain function as the HTTP route, and
returns the resulting resource as JSON (a dict). The event `id` is the idempotency key
(Powertools idempotency over the service's table), so a redelivered command acts once.

Failure policy (API.md "EventBridge-driven automation"): a command that is the caller's fault
(invalid, or a 4xx from the domain, e.g. another account's grant -> 404) publishes
`account.credits.command_failed` with the HTTP error body and returns normally, so EventBridge
does not retry it; anything else raises, so EventBridge retries (then dead-letters) it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from pydantic import BaseModel, ValidationError

from credits.api.views import application_view, consumption_view, grant_view
from credits.container import (
    application_service,
    consumption_service,
    grant_service,
    idempotency_persistence,
    publisher,
)
from credits.domain.actors import acting_as, command_actor, current_actor
from credits.domain.clock import to_iso, utcnow
from credits.domain.errors import ServiceError
from credits.models.commands import (
    APPLY_CREDITS,
    CONSUME_CREDITS,
    GRANT_CREDITS,
    RECORD_CREDIT_PAYMENT,
    RELEASE_APPLICATION,
    SETTLE_APPLICATION,
    VOID_CREDIT_GRANT,
    ApplyCreditsDetail,
    ConsumeCreditsDetail,
    GrantCreditsDetail,
    InvoiceDetail,
    RecordCreditPaymentDetail,
    VoidCreditGrantDetail,
)
from credits.models.errors import error_body, validation_details
from credits.models.events import command_failed_event
from credits.telemetry import logger

# Redeliveries within this window act once (EventBridge retries for at most an hour).
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

# ====================================================================== domain calls (as the HTTP routes)


def _grant(detail: GrantCreditsDetail, command_id: str) -> dict[str, Any]:
    service = grant_service()
    # The command's id is its idempotency key: the grant is created once for it, even when the
    # Powertools record of the command was lost after the grant committed.
    grant = service.create(detail.accountId, detail.grant, request_key=f"command#{command_id}")
    return grant_view(grant, service.now_of(grant)).model_dump(mode="json")


def _void(detail: VoidCreditGrantDetail, command_id: str) -> dict[str, Any]:
    service = grant_service()
    grant = service.void(detail.accountId, detail.grantId, detail.reason, refund=detail.refund)
    return grant_view(grant, service.now_of(grant)).model_dump(mode="json")


def _payment(detail: RecordCreditPaymentDetail, command_id: str) -> dict[str, Any]:
    service = grant_service()
    grant = service.record_payment(detail.accountId, detail.grantId, detail.status, detail.invoiceId)
    return grant_view(grant, service.now_of(grant)).model_dump(mode="json")


def _apply(detail: ApplyCreditsDetail, command_id: str) -> dict[str, Any]:
    application, _created = application_service().apply(detail.accountId, detail.application)
    return application_view(application).model_dump(mode="json")


def _settle(detail: InvoiceDetail, command_id: str) -> dict[str, Any]:
    return application_view(application_service().settle(detail.accountId, detail.invoiceId)).model_dump(mode="json")


def _release(detail: InvoiceDetail, command_id: str) -> dict[str, Any]:
    return application_view(application_service().release(detail.accountId, detail.invoiceId)).model_dump(mode="json")


def _consume(detail: ConsumeCreditsDetail, command_id: str) -> dict[str, Any]:
    # The consumption's eventId is its own idempotency key (as over HTTP).
    record, balances, _created = consumption_service().consume(detail.accountId, detail.consumption)
    return consumption_view(record, balances).model_dump(mode="json")


# Each runs with the validated detail and the command's id.
COMMANDS: dict[str, tuple[type[BaseModel], Callable[[Any, str], dict[str, Any]]]] = {
    GRANT_CREDITS: (GrantCreditsDetail, _grant),
    VOID_CREDIT_GRANT: (VoidCreditGrantDetail, _void),
    RECORD_CREDIT_PAYMENT: (RecordCreditPaymentDetail, _payment),
    APPLY_CREDITS: (ApplyCreditsDetail, _apply),
    SETTLE_APPLICATION: (InvoiceDetail, _settle),
    RELEASE_APPLICATION: (InvoiceDetail, _release),
    CONSUME_CREDITS: (ConsumeCreditsDetail, _consume),
}


class CommandRejected(Exception):
    """The caller's fault: reported as command_failed, never retried."""

    def __init__(self, body: dict[str, Any]):
        super().__init__(body["error"]["message"])
        self.body = body


def _invalid(message: str, field: str) -> CommandRejected:
    return CommandRejected(error_body("validation_error", message, [{"field": field, "message": message}]))


def execute(detail_type: str, detail: Any, command_id: str) -> dict[str, Any]:
    """Validate `detail` for `detail_type` and run it. Raises CommandRejected (caller's fault)
    or anything else (transient)."""
    if detail_type not in COMMANDS:
        known = ", ".join(COMMANDS)
        raise _invalid(f"detail-type {detail_type!r} is not a command (expected one of: {known})", "detail-type")
    model, run = COMMANDS[detail_type]
    try:
        parsed = model.model_validate(detail)
    except ValidationError as exc:
        details = validation_details([{**e, "loc": ("detail", *e["loc"])} for e in exc.errors()])
        message = "; ".join(d["message"] for d in details[:5]) or "invalid command"
        raise CommandRejected(error_body("validation_error", message, details)) from None
    try:
        return run(parsed, command_id)
    except ServiceError as exc:
        if 400 <= exc.status < 500 and exc.retry_after is None:
            raise CommandRejected(exc.body()) from None
        # "Try again" (a retryable 409, a 503): transient, so EventBridge retries the command.
        raise


# ====================================================================== entry point


def _publish_failure(event: dict[str, Any], command_id: str, detail_type: str, body: dict[str, Any]) -> None:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    account = detail.get("accountId") if isinstance(detail.get("accountId"), str) else ""
    inner = detail.get("grant") or detail.get("application") or detail.get("consumption")
    customer = inner.get("customerId") if isinstance(inner, dict) else None
    failed = command_failed_event(account, command_id, detail_type, body, to_iso(utcnow()),
                                  customer_id=customer if isinstance(customer, str) else None, actor=current_actor())
    if not all(publisher().publish([failed])):
        # Not reported = not handled: raise so the command is retried (and reported then).
        raise RuntimeError(f"could not publish command_failed for command {command_id}")
    logger.warning("command rejected", extra={"commandId": command_id, "detailType": detail_type,
                                              "error": body["error"]})


def _run(event: dict[str, Any], command_id: str, detail_type: str) -> dict[str, Any]:
    try:
        return execute(detail_type, event.get("detail"), command_id)
    except CommandRejected as rejected:
        _publish_failure(event, command_id, detail_type, rejected.body)
        return rejected.body


# The actor's source of a command invoked directly (the Lambda invoke API) without a `source`.
DIRECT_SOURCE = "lambda.invoke"


def handle_command(event: Any, context: Any = None) -> dict[str, Any]:
    """An EventBridge command (or a direct invocation of the same shape) -> the resulting
    resource as a dict, or the error body when the command was rejected. Whatever it writes
    records the command (its source and event id) as the actor."""
    event = event if isinstance(event, dict) else {}
    source, command_id = event.get("source"), event.get("id")
    with acting_as(command_actor(source if isinstance(source, str) and source else DIRECT_SOURCE,
                                 command_id if isinstance(command_id, str) else "")):
        return _handle_command(event, context)


def _handle_command(event: dict[str, Any], context: Any) -> dict[str, Any]:
    command_id = event.get("id")
    detail_type = event.get("detail-type")
    detail_type = detail_type if isinstance(detail_type, str) else ""
    if not isinstance(command_id, str) or not 1 <= len(command_id) <= 255:
        # Without an id there is no idempotency key: reject (nothing was done).
        body = _invalid("id (the command's idempotency key) is required: a string of 1-255 characters", "id").body
        _publish_failure(event, str(command_id or ""), detail_type, body)
        return body

    config = IdempotencyConfig(event_key_jmespath="[id, detailType]", payload_validation_jmespath="detail",
                               expires_after_seconds=IDEMPOTENCY_TTL_SECONDS, raise_on_no_idempotency_key=True)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)

    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    account = detail.get("accountId") if isinstance(detail.get("accountId"), str) else ""
    # One partition per command type and account (store/idempotency_store.py).
    scope = f"command#{detail_type}#{account}"

    @idempotent_function(data_keyword_argument="command", persistence_store=idempotency_persistence("command"),
                         config=config, key_prefix=scope)
    def once(command: dict[str, Any]) -> dict[str, Any]:
        return _run(event, command_id, detail_type)

    try:
        # The stored result (resource or rejection) is returned again for a redelivery.
        return once(command={"id": command_id, "detailType": detail_type, "detail": event.get("detail")})
    except IdempotencyValidationError:
        body = error_body("conflict", f"command id {command_id} was already used with a different detail")
        _publish_failure(event, command_id, detail_type, body)
        return body
