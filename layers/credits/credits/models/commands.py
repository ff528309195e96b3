"""The EventBridge commands the service takes in: their detail-types and the shape of each
`detail` (the same request models as the HTTP routes)."""

from __future__ import annotations

from credits.models.api import ApplyRequest, CreateGrantRequest, Identifier, Reason, StrictModel
from credits.models.consumptions import ConsumeRequest

GRANT_CREDITS = "Grant Credits"
VOID_CREDIT_GRANT = "Void Credit Grant"
APPLY_CREDITS = "Apply Credits"
SETTLE_APPLICATION = "Settle Credit Application"
RELEASE_APPLICATION = "Release Credit Application"
CONSUME_CREDITS = "Consume Credits"


class GrantCreditsDetail(StrictModel):
    accountId: Identifier
    grant: CreateGrantRequest


class VoidCreditGrantDetail(StrictModel):
    accountId: Identifier
    grantId: Identifier
    reason: Reason


class ApplyCreditsDetail(StrictModel):
    accountId: Identifier
    application: ApplyRequest


class InvoiceDetail(StrictModel):
    accountId: Identifier
    invoiceId: Identifier


class ConsumeCreditsDetail(StrictModel):
    accountId: Identifier
    consumption: ConsumeRequest
