"""`/credit-grant-schedules` routes, as two Powertools routers: writes on GrantFunction
(`grant_router`), reads on ListFunction (`list_router`), as template.yaml maps them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from credits.api.resolver import account_id
from credits.api.views import pagination, schedule_view
from credits.container import schedule_service
from credits.models.api import CreateScheduleRequest, Identifier, Schedule, ScheduleList

grant_router = Router()
list_router = Router()

ScheduleId = Annotated[str, Path()]


@grant_router.post("/credit-grant-schedules", status_code=201, summary="Create a recurring-grant schedule")
def create_schedule(body: Annotated[CreateScheduleRequest, Body()]) -> Schedule:
    return schedule_view(schedule_service().create(account_id(grant_router), body))


@grant_router.post("/credit-grant-schedules/<scheduleId>/cancel",
                   summary="Cancel a schedule (no further grants; the grants made stay)")
def cancel_schedule(scheduleId: ScheduleId) -> Schedule:
    return schedule_view(schedule_service().cancel(account_id(grant_router), scheduleId))


@list_router.get("/credit-grant-schedules", summary="List recurring-grant schedules, newest first")
def list_schedules(
    customerId: Annotated[Identifier | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=2048)] = None,
    before: Annotated[str | None, Query(max_length=2048)] = None,
) -> ScheduleList:
    page = schedule_service().list(account_id(list_router), customer_id=customerId, limit=limit,
                                   after=after, before=before)
    return ScheduleList(items=[schedule_view(s) for s in page.items], pagination=pagination(page))


@list_router.get("/credit-grant-schedules/<scheduleId>", summary="Get a recurring-grant schedule")
def get_schedule(scheduleId: ScheduleId) -> Schedule:
    return schedule_view(schedule_service().get(account_id(list_router), scheduleId))
