"""`/credit-balance-alerts` and `/credit-top-up-rules`, as two Powertools routers: writes on
ConsumeFunction (`write_router`), reads on ListFunction (`list_router`), as template.yaml maps them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from credits.api.resolver import account_id
from credits.api.views import alert_list_view, rule_list_view, rule_view, watch_view
from credits.container import watch_service
from credits.models import alerts as models

write_router = Router()
list_router = Router()
WatchId = Annotated[str, Path()]


@write_router.post("/credit-balance-alerts", status_code=201, summary="Alert when a customer balance crosses a threshold")
def create_alert(body: Annotated[models.CreateAlertRequest, Body()]) -> models.Alert:
    return watch_view(watch_service().create_alert(account_id(write_router), body))


@write_router.post("/credit-top-up-rules", status_code=201, summary="Top a balance up when it falls below a threshold")
def create_rule(body: Annotated[models.CreateTopUpRuleRequest, Body()]) -> models.TopUpRule:
    return rule_view(watch_service().create_rule(account_id(write_router), body))


@write_router.patch("/credit-top-up-rules/<id>", summary="Change a top-up rule")
def update_rule(id: WatchId, body: Annotated[models.UpdateTopUpRuleRequest, Body()]) -> models.TopUpRule:
    return rule_view(watch_service().update_rule(account_id(write_router), id, body))


def _reads_and_delete(path: str, kind: str, view, list_view, model, list_model, what: str) -> None:
    """GET list, GET one, DELETE one of a kind of watch (the same for alerts and top-up rules)."""

    def delete_watch(id: WatchId) -> Response[None]:
        watch_service().delete(account_id(write_router), id, kind)
        return Response(status_code=204, body=None)

    def list_watches(q: Annotated[models.WatchListQuery, Query()]):
        return list_view(watch_service().list(account_id(list_router), kind, customer_id=q.customerId,
                                              limit=q.limit, after=q.after, before=q.before))

    def get_watch(id: WatchId):
        return view(watch_service().get(account_id(list_router), id, kind))

    # Resolved here (the module's annotations are strings, and these name this call's models).
    delete_watch.__annotations__ = {"id": WatchId, "return": Response[None]}
    list_watches.__annotations__ = {"q": Annotated[models.WatchListQuery, Query()], "return": list_model}
    get_watch.__annotations__ = {"id": WatchId, "return": model}
    for function, name in ((delete_watch, "delete"), (list_watches, "list"), (get_watch, "get")):
        function.__name__ = function.__qualname__ = f"{name}_{kind.lower()}"
    write_router.delete(f"{path}/<id>", status_code=204, summary=f"Delete a {what}")(delete_watch)
    list_router.get(path, summary=f"List {what}s, newest first")(list_watches)
    list_router.get(f"{path}/<id>", summary=f"Get a {what}")(get_watch)


_reads_and_delete("/credit-balance-alerts", "ALERT", watch_view, alert_list_view, models.Alert, models.AlertList,
                  "balance alert")
_reads_and_delete("/credit-top-up-rules", "TOP_UP", rule_view, rule_list_view, models.TopUpRule,
                  models.TopUpRuleList, "top-up rule")
