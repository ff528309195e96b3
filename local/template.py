"""template.yaml as data: the one definition of the table, the functions and their routes.

Importing this module has no side effects, so tests (moto and DynamoDB Local alike) create
their table with `create_table` exactly as the local stack does:

    from local.template import load_template, create_table, api_routes, functions
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
TABLE_RESOURCE = "CreditsTable"
DEFAULT_HANDLER = "app.lambda_handler"

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CloudFormationLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader that understands CloudFormation short tags (!Ref, !GetAtt, !Sub …).

    Tags become their long form ({"Ref": x}, {"Fn::GetAtt": [res, attr]}, {"Fn::Sub": …}) and stay
    unresolved: the local stack resolves the few values it needs itself.
    """


def _construct_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "!GetAtt Res.Attr" is the short form of ["Res", "Attr"]; the attribute may hold dots.
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """Parse template.yaml (a fresh dict on every call: callers may mutate it)."""
    with open(path or TEMPLATE_PATH, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {
        name: res
        for name, res in (template.get("Resources") or {}).items()
        if isinstance(res, dict) and res.get("Type") == type_
    }


def ref_target(value: Any) -> str | None:
    """The logical id named by {"Ref": X} or {"Fn::GetAtt": [X, …]}, or a plain string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


def table_properties(template: dict[str, Any] | None = None) -> dict[str, Any]:
    template = template or load_template()
    return template["Resources"][TABLE_RESOURCE]["Properties"]


def create_table_kwargs(table_name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """`CreateTable` arguments from the CreditsTable resource (PITR/SSE/TTL are not CreateTable's)."""
    props = table_properties(template)
    billing = props.get("BillingMode", "PROVISIONED")
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [dict(a) for a in props["AttributeDefinitions"]],
        "KeySchema": [dict(k) for k in props["KeySchema"]],
        "BillingMode": billing,
    }
    throughput = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = throughput
    gsis = []
    for gsi in props.get("GlobalSecondaryIndexes") or []:
        index = {
            "IndexName": gsi["IndexName"],
            "KeySchema": [dict(k) for k in gsi["KeySchema"]],
            "Projection": dict(gsi["Projection"]),
        }
        if billing == "PROVISIONED":
            index["ProvisionedThroughput"] = gsi.get("ProvisionedThroughput") or throughput
        gsis.append(index)
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {"IndexName": lsi["IndexName"], "KeySchema": [dict(k) for k in lsi["KeySchema"]], "Projection": dict(lsi["Projection"])}
        for lsi in props.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        kwargs["LocalSecondaryIndexes"] = lsis
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return kwargs


def create_table(client: Any, table_name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create `table_name` as template.yaml defines CreditsTable; return its TableDescription.

    `client` is a boto3 DynamoDB client (or resource) pointed at moto, DynamoDB Local or AWS.
    """
    client = getattr(getattr(client, "meta", None), "client", client)  # accept a resource too
    template = template or load_template()
    description = client.create_table(**create_table_kwargs(table_name, template))["TableDescription"]
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    ttl = table_properties(template).get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        try:
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        except Exception:  # noqa: BLE001 - an emulator without TTL support is still usable
            pass
    return description


# ---------------------------------------------------------------------------------------------
# Functions and routes
# ---------------------------------------------------------------------------------------------


@dataclass
class ApiEvent:
    name: str
    method: str
    path: str
    # Authorizer name, or None when the event says `Auth: {Authorizer: NONE}`.
    authorizer: str | None


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, Any] = field(default_factory=dict)
    api_events: list[ApiEvent] = field(default_factory=list)
    eventbridge_rules: list[dict[str, Any]] = field(default_factory=list)  # the Patterns
    schedules: list[dict[str, Any]] = field(default_factory=list)  # Schedule/ScheduleV2 Properties
    streams: list[dict[str, Any]] = field(default_factory=list)  # DynamoDB event Properties
    queues: list[dict[str, Any]] = field(default_factory=list)  # SQS event Properties

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


class Route(NamedTuple):
    method: str
    path: str
    function: str


def function_globals(template: dict[str, Any]) -> dict[str, Any]:
    return ((template.get("Globals") or {}).get("Function")) or {}


def default_authorizer(template: dict[str, Any], api_id: str | None) -> str | None:
    apis = _resources(template, "AWS::Serverless::Api")
    api = apis.get(api_id or "") or (next(iter(apis.values())) if len(apis) == 1 else None)
    auth = ((api or {}).get("Properties") or {}).get("Auth") or {}
    return auth.get("DefaultAuthorizer")


def functions(template: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function, by logical id, with Globals applied."""
    template = template or load_template()
    glob = function_globals(template)
    result: dict[str, FunctionSpec] = {}
    for logical_id, res in _resources(template, "AWS::Serverless::Function").items():
        props = res.get("Properties") or {}
        env = dict(((props.get("Environment") or {}).get("Variables")) or {})
        spec = FunctionSpec(
            logical_id=logical_id,
            code_uri=(ROOT / props.get("CodeUri", ".")).resolve(),
            handler=props.get("Handler") or glob.get("Handler") or DEFAULT_HANDLER,
            timeout=int(props.get("Timeout") or glob.get("Timeout") or 3),
            memory_size=int(props.get("MemorySize") or glob.get("MemorySize") or 128),
            environment=env,
        )
        for event_name, event in (props.get("Events") or {}).items():
            etype, eprops = event.get("Type"), event.get("Properties") or {}
            if etype == "Api":
                auth = eprops.get("Auth") or {}
                authorizer = auth.get("Authorizer") or default_authorizer(template, ref_target(eprops.get("RestApiId")))
                spec.api_events.append(
                    ApiEvent(
                        name=event_name,
                        method=str(eprops["Method"]).upper(),
                        path=eprops["Path"],
                        authorizer=None if authorizer in (None, "NONE") else authorizer,
                    )
                )
            elif etype in ("EventBridgeRule", "CloudWatchEvent"):
                spec.eventbridge_rules.append(eprops.get("Pattern") or {})
            elif etype in ("Schedule", "ScheduleV2"):
                spec.schedules.append(eprops)
            elif etype == "DynamoDB":
                spec.streams.append(eprops)
            elif etype == "SQS":
                spec.queues.append(eprops)
        result[logical_id] = spec
    return result


def api_routes(template: dict[str, Any] | None = None) -> list[Route]:
    """(method, path template, function logical id) for every Api event."""
    return [
        Route(ev.method, ev.path, spec.logical_id)
        for spec in functions(template).values()
        for ev in spec.api_events
    ]


@dataclass
class AuthorizerSpec:
    name: str
    function: str
    identity_headers: list[str]
    ttl_seconds: int


def authorizers(template: dict[str, Any] | None = None) -> dict[str, AuthorizerSpec]:
    """Lambda REQUEST authorizers of the Serverless APIs, by name."""
    template = template or load_template()
    result = {}
    for api in _resources(template, "AWS::Serverless::Api").values():
        auth = (api.get("Properties") or {}).get("Auth") or {}
        for name, conf in (auth.get("Authorizers") or {}).items():
            identity = conf.get("Identity") or {}
            result[name] = AuthorizerSpec(
                name=name,
                function=ref_target(conf.get("FunctionArn")) or "",
                identity_headers=list(identity.get("Headers") or ["Authorization"]),
                ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
            )
    return result


def gateway_responses(template: dict[str, Any] | None = None) -> dict[str, tuple[int | None, str | None]]:
    """GatewayResponses of the API: type → (status code, application/json body)."""
    template = template or load_template()
    result = {}
    for api in _resources(template, "AWS::Serverless::Api").values():
        for rtype, conf in ((api.get("Properties") or {}).get("GatewayResponses") or {}).items():
            status = conf.get("StatusCode")
            body = (conf.get("ResponseTemplates") or {}).get("application/json")
            result[rtype] = (int(status) if status is not None else None, body)
    return result


def stage_name(template: dict[str, Any] | None = None) -> str:
    template = template or load_template()
    for api in _resources(template, "AWS::Serverless::Api").values():
        stage = (api.get("Properties") or {}).get("StageName")
        name = ref_target(stage)
        param = (template.get("Parameters") or {}).get(name or "")
        if isinstance(stage, dict) and param:
            return str(param.get("Default", "prod"))
        if isinstance(stage, str):
            return stage
    return "prod"


def layer_dirs(template: dict[str, Any] | None = None) -> list[Path]:
    """ContentUri of every Serverless layer (what Lambda puts on sys.path)."""
    template = template or load_template()
    return [
        (ROOT / (res.get("Properties") or {}).get("ContentUri", ".")).resolve()
        for res in _resources(template, "AWS::Serverless::LayerVersion").values()
    ]


def webhook_patterns(template: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """EventPatterns of AWS::Events::Rule resources that target an API destination (webhooks)."""
    template = template or load_template()
    destinations = set(_resources(template, "AWS::Events::ApiDestination"))
    patterns = []
    for rule in _resources(template, "AWS::Events::Rule").values():
        props = rule.get("Properties") or {}
        if any(ref_target(t.get("Arn")) in destinations for t in props.get("Targets") or []):
            patterns.append(props.get("EventPattern") or {})
    return patterns


def resolve_environment(
    template: dict[str, Any], variables: dict[str, Any], refs: dict[str, str]
) -> dict[str, str]:
    """Resolve Globals-style env values: plain values as is, {"Ref": X} from `refs`, then from
    the parameter's Default, else the logical id itself."""
    params = template.get("Parameters") or {}
    resolved = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            if name in refs:
                value = refs[name]
            elif name in params:
                value = params[name].get("Default", "")
            else:
                value = name
        elif isinstance(value, dict):
            continue  # Fn::Sub / Fn::GetAtt etc.: nothing sensible locally
        elif isinstance(value, bool):
            value = "true" if value else "false"
        resolved[key] = str(value)
    return resolved


@dataclass
class QueueSpec:
    logical_id: str
    name: str
    dead_letter: str | None  # logical id of the RedrivePolicy's dead-letter queue
    max_receive_count: int


def queues(template: dict[str, Any] | None = None) -> dict[str, QueueSpec]:
    """Every AWS::SQS::Queue (unconditioned, or whose condition the local stack cannot tell: all),
    named by its logical id, with its redrive policy."""
    template = template or load_template()
    result = {}
    for logical_id, res in _resources(template, "AWS::SQS::Queue").items():
        redrive = (res.get("Properties") or {}).get("RedrivePolicy") or {}
        dead = ref_target(redrive.get("deadLetterTargetArn"))
        result[logical_id] = QueueSpec(logical_id, logical_id, dead, int(redrive.get("maxReceiveCount") or 0))
    return result
