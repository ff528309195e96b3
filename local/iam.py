"""IAM, locally: every AWS call a function makes is checked against that function's `Policies`
in template.yaml, so a missing permission fails locally exactly as AccessDenied would in AWS.

SAM policy templates (DynamoDBCrudPolicy, …) are expanded with samtranslator's own processor
(what `sam deploy` does); plain statements are read as written. `!Ref`, `!GetAtt` and `!Sub`
resolve to the local resources' ARNs (table, its indexes and stream, bus, queues, functions).

Only the services the local stack emulates are checked (DynamoDB, EventBridge, SQS, Lambda);
conditions on statements are not evaluated (none are used by the template).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
CHECKED_SERVICES = {"dynamodb", "events", "sqs", "lambda"}

# IAM prefix by botocore service name (where they differ).
_IAM_PREFIX = {"dynamodb": "dynamodb", "events": "events", "sqs": "sqs", "lambda": "lambda"}
# Items of TransactWriteItems are authorised one by one, by what each item does.
_TRANSACT_WRITE_ACTIONS = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
}


class PolicyError(ValueError):
    """The template's policy cannot be read (an unknown policy template, an unresolvable ARN)."""


# ---------------------------------------------------------------------------------------------
# Resolving the template's intrinsic functions to local names and ARNs
# ---------------------------------------------------------------------------------------------


@dataclass
class LocalResources:
    """The local names of the template's resources: `names` maps a logical id to what `!Ref`
    gives locally (the table name, the bus name, the queue name, the function name)."""

    template: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)

    def _type(self, logical_id: str) -> str:
        resource = (self.template.get("Resources") or {}).get(logical_id)
        if not isinstance(resource, dict):
            raise PolicyError(f"policy refers to {logical_id!r}, which is not a resource of the template")
        return str(resource.get("Type"))

    def name(self, logical_id: str) -> str:
        return self.names.get(logical_id, logical_id)

    def ref(self, logical_id: str) -> str:
        params = self.template.get("Parameters") or {}
        if logical_id in params:
            return str(params[logical_id].get("Default", ""))
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": PARTITION,
                  "AWS::StackName": "credits-local", "AWS::URLSuffix": "amazonaws.com"}
        if logical_id in pseudo:
            return pseudo[logical_id]
        kind = self._type(logical_id)
        if kind == "AWS::SQS::Queue":
            return f"http://sqs.{REGION}.localhost/{ACCOUNT_ID}/{self.name(logical_id)}"  # Ref is the URL
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind, name = self._type(logical_id), self.name(logical_id)
        if kind == "AWS::DynamoDB::Table":
            table = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            if attribute == "Arn":
                return table
            if attribute == "StreamArn":
                return f"{table}/stream/*"
        if kind == "AWS::Events::EventBus" and attribute == "Arn":
            return f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"
        if kind == "AWS::SQS::Queue":
            if attribute == "Arn":
                return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
            if attribute == "QueueName":
                return name
        if kind == "AWS::Serverless::Function" and attribute == "Arn":
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        # Anything else (an API destination, a log group …) is nothing the local stack serves:
        # an ARN that no local call can match.
        return f"arn:{PARTITION}:local:{REGION}:{ACCOUNT_ID}:{logical_id}/{attribute}"

    def resolve(self, value: Any, scope: dict[str, str] | None = None) -> Any:
        if isinstance(value, list):
            return [self.resolve(v, scope) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = (arg.split(".", 1) if isinstance(arg, str) else arg)
                return self.get_att(resource, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                local = {k: str(self.resolve(v, scope)) for k, v in variables.items()}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub_variable(m.group(1), local), text)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p, scope)) for p in parts)
            if key.startswith("Fn::"):
                raise PolicyError(f"{key} in a policy is not supported locally")
        return {k: self.resolve(v, scope) for k, v in value.items()}

    def _sub_variable(self, name: str, local: dict[str, str]) -> str:
        if name in local:
            return local[name]
        if "." in name:
            resource, attribute = name.split(".", 1)
            return self.get_att(resource, attribute)
        return self.ref(name)


# ---------------------------------------------------------------------------------------------
# A function's policy
# ---------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Statement:
    effect: str
    actions: list[str]
    resources: list[str]
    not_actions: list[str] = field(default_factory=list)

    def covers(self, action: str, resource: str) -> bool:
        if self.not_actions:
            action_hit = not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in self.not_actions)
        else:
            action_hit = any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in self.actions)
        return action_hit and any(fnmatch.fnmatchcase(resource, r) for r in self.resources)


@dataclass
class FunctionPolicy:
    function: str
    statements: list[Statement]

    def allows(self, action: str, resource: str) -> bool:
        """IAM's rule: an explicit Deny wins, else some Allow must cover the request."""
        hits = [s for s in self.statements if s.covers(action, resource)]
        return bool(hits) and all(s.effect == "Allow" for s in hits)


def _policy_templates() -> Any:
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def function_policy(template: dict[str, Any], function: str, resources: LocalResources) -> FunctionPolicy:
    """The statements of `function`'s Policies (SAM templates expanded; managed policies by name
    are ignored: the template uses them only for logging and tracing)."""
    props = ((template.get("Resources") or {}).get(function) or {}).get("Properties") or {}
    processor = None
    raw_statements: list[dict[str, Any]] = []
    for policy in _as_list(props.get("Policies")):
        if isinstance(policy, str):
            continue  # a managed policy name, e.g. AWSLambdaBasicExecutionRole
        if "Statement" in policy:
            raw_statements += _as_list(policy["Statement"])
        elif "PolicyDocument" in policy:
            raw_statements += _as_list(policy["PolicyDocument"].get("Statement"))
        else:
            processor = processor or _policy_templates()
            for name, parameters in policy.items():
                if not processor.has(name):
                    raise PolicyError(f"{function}: unknown policy template {name!r}")
                document = processor.convert(name, parameters or {})
                raw_statements += _as_list(document.get("Statement"))
    statements = []
    for raw in raw_statements:
        resolved = resources.resolve(raw)
        statements.append(
            Statement(
                effect=str(resolved.get("Effect", "Allow")),
                actions=[str(a) for a in _as_list(resolved.get("Action"))],
                not_actions=[str(a) for a in _as_list(resolved.get("NotAction"))],
                resources=[str(r) for r in _as_list(resolved.get("Resource"))],
            )
        )
    return FunctionPolicy(function, statements)


# ---------------------------------------------------------------------------------------------
# What a call needs: (action, resource) pairs
# ---------------------------------------------------------------------------------------------


def _table_arn(name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


def required_permissions(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorises for one API call."""
    prefix = _IAM_PREFIX[service]
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            needed = []
            for item in params.get("TransactItems") or []:
                for kind, body in item.items():
                    needed.append((_TRANSACT_WRITE_ACTIONS[kind], _table_arn(body["TableName"])))
            return needed
        if operation == "TransactGetItems":
            return [("dynamodb:GetItem", _table_arn(i["Get"]["TableName"])) for i in params.get("TransactItems") or []]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", _table_arn(t)) for t in (params.get("RequestItems") or {})]
        if "TableName" in params:
            arn = _table_arn(params["TableName"])
            if params.get("IndexName"):
                arn = f"{arn}/index/{params['IndexName']}"
            return [(f"dynamodb:{operation}", arn)]
        return [(f"dynamodb:{operation}", "*")]
    if service == "events":
        if operation == "PutEvents":
            buses = {e.get("EventBusName") or "default" for e in params.get("Entries") or []} or {"default"}
            return [("events:PutEvents", _bus_arn(b)) for b in sorted(buses)]
        return [(f"events:{operation}", "*")]
    if service == "sqs":
        url = str(params.get("QueueUrl") or "")
        name = url.rstrip("/").rsplit("/", 1)[-1] if url else "*"
        action = "sqs:SendMessage" if operation == "SendMessageBatch" else f"sqs:{operation}"
        return [(action, f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT_ID}:{name}")]
    if service == "lambda":
        function = str(params.get("FunctionName") or "*")
        if not function.startswith("arn:"):
            function = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{function.split(':')[0]}"
        action = "lambda:InvokeFunction" if operation in ("Invoke", "InvokeAsync") else f"lambda:{operation}"
        return [(action, function)]
    return [(f"{prefix}:{operation}", "*")]


def _bus_arn(name: str) -> str:
    return name if name.startswith("arn:") else f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"


def denied(policy: FunctionPolicy, service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (action, resource) pairs of this call that the policy does not allow."""
    if service not in CHECKED_SERVICES:
        return []
    return [(a, r) for a, r in required_permissions(service, operation, params) if not policy.allows(a, r)]


# ---------------------------------------------------------------------------------------------
# The botocore hook (installed in each function's worker process)
# ---------------------------------------------------------------------------------------------


def access_denied_error(function: str, operation: str, action: str, resource: str) -> Exception:
    from botocore.exceptions import ClientError

    message = (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{function}Role/{function} is not authorized to perform: "
        f"{action} on resource: {resource} because no identity-based policy allows the {action} action"
    )
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, operation)


def install_check(policy: FunctionPolicy, on_denied: Any = None) -> None:
    """Check every call of every botocore client created from now on in this process against
    `policy`; a call it does not allow raises ClientError AccessDeniedException before it is sent
    (and `on_denied(action, resource)` is called, so the local stack can report it)."""
    import botocore.session

    original = botocore.session.Session.create_client
    if getattr(original, "_iam_checked", False):
        return

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        for action, resource in denied(policy, service, model.name, params):
            if on_denied:
                on_denied(action, resource)
            raise access_denied_error(policy.function, model.name, action, resource)

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", check)
        return client

    create_client._iam_checked = True  # type: ignore[attr-defined]
    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
