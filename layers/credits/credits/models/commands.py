"""The EventBridge commands the service takes in: their detail-types and the shape of each
`detail` (the same request models as the HTTP routes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from credits.models.api import ApplyRequest, CreateGrantRequest, Identifier, Reason, StrictModel
from credits.models.consumptions import ConsumeRequest

GRANT_CREDITS = "Grant Credits"
VOID_CREDIT_GRANT = "Void Credit Grant"
APPLY_CREDITS = "Apply Credits"
SETTLE_APPLICATION = "Settle Credit Application"
RELEASE_APPLICATION = "Release Credit Application"
RECORD_CREDIT_PAYMENT = "Record Credit Payment"
CONSUME_CREDITS = "Consume Credits"


class GrantCreditsDetail(StrictModel):
    accountId: Identifier
    grant: CreateGrantRequest


class VoidCreditGrantDetail(StrictModel):
    accountId: Identifier
    grantId: Identifier
    reason: Reason
    refund: Annotated[bool, Field(strict=True)] = False


class RecordCreditPaymentDetail(StrictModel):
    """The outcome of the invoice of a grant created with requirePayment (a billing system's
    payment event): as POST /credit-grants/{grantId}/payment."""

    accountId: Identifier
    grantId: Identifier
    status: Literal["PAID", "FAILED"]
    invoiceId: Identifier | None = None


class ApplyCreditsDetail(StrictModel):
    accountId: Identifier
    application: ApplyRequest


class InvoiceDetail(StrictModel):
    accountId: Identifier
    invoiceId: Identifier


class ConsumeCreditsDetail(StrictModel):
    accountId: Identifier
    consumption: ConsumeRequest
