"""`/test-clocks` (TestClockFunction), as a Powertools router: not in live mode (404 there). An
advance or a deletion works within the request for a while, then hands the rest to the
asynchronous worker (events/test_clock_work.py)."""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from credits.api.json_body import JSON
from credits.api.resolver import account_id
from credits.api.views import (
    test_clock_customer_list_view,
    test_clock_customer_view,
    test_clock_list_view,
    test_clock_view,
)
from credits.container import test_clock_service
from credits.domain.errors import NotFound
from credits.models.api import (
    AdvanceTestClockRequest,
    AttachTestClockCustomerRequest,
    CreateTestClockRequest,
    PageQuery,
    TestClock,
    TestClockCustomer,
    TestClockCustomerList,
    TestClockList,
)
from credits.settings import get_settings

router = Router()
ClockId = Annotated[str, Path()]
# A request works on an advance or a deletion this long at most, then hands the rest over.
INLINE_SECONDS = 8.0


def _service():
    if get_settings().livemode:  # live deployments have no test clocks
        raise NotFound("no such route")
    return test_clock_service()


def _deadline(seconds: float = INLINE_SECONDS) -> float:
    context = router.lambda_context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = min(seconds, (remaining() / 1000 - 10) if remaining else seconds)
    return time.monotonic() + max(0.5, budget)


@router.post("/test-clocks", status_code=201, summary="Create a test clock")
def create_clock(body: Annotated[CreateTestClockRequest, Body()]) -> TestClock:
    return test_clock_view(_service().create(account_id(router), body))


@router.get("/test-clocks", summary="List test clocks, newest first")
def list_clocks(q: Annotated[PageQuery, Query()]) -> TestClockList:
    return test_clock_list_view(_service().list(account_id(router), limit=q.limit, after=q.after, before=q.before))


@router.get("/test-clocks/<testClockId>", summary="Get a test clock")
def get_clock(testClockId: ClockId) -> TestClock:
    return test_clock_view(_service().get(account_id(router), testClockId))


@router.delete("/test-clocks/<testClockId>", status_code=204,
            summary="Delete a test clock and everything of its customers (202 while it goes on)")
def delete_clock(testClockId: ClockId) -> Response[TestClock | None]:
    left = _service().delete(account_id(router), testClockId, deadline=_deadline())
    if left is None:
        return Response(status_code=204, body=None)
    return Response(status_code=202, content_type=JSON, body=test_clock_view(left))


@router.post("/test-clocks/<testClockId>/customers", status_code=201, summary="Attach a customer that has nothing yet")
def attach_customer(testClockId: ClockId, body: Annotated[AttachTestClockCustomerRequest, Body()]) -> TestClockCustomer:
    clock = _service().attach(account_id(router), testClockId, body.customerId)
    return test_clock_customer_view(clock, body.customerId)


@router.get("/test-clocks/<testClockId>/customers", summary="The clock's customers, with its time")
def list_customers(testClockId: ClockId, q: Annotated[PageQuery, Query()]) -> TestClockCustomerList:
    clock, page = _service().customers(account_id(router), testClockId, limit=q.limit, after=q.after, before=q.before)
    return test_clock_customer_list_view(clock, page)


@router.post("/test-clocks/<testClockId>/advance",
          summary="Move the clock forward, running what is due for its customers (READY, or ADVANCING while it goes on)")
def advance_clock(testClockId: ClockId, body: Annotated[AdvanceTestClockRequest, Body()]) -> TestClock:
    return test_clock_view(_service().advance(account_id(router), testClockId, body, deadline=_deadline()))
