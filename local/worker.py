"""One Lambda execution environment: `python -m local.worker <FunctionLogicalId> <template.yaml>`.

The parent (local/lambdas.py) starts a few of these per function with the function's
environment. Each loads its handler once (the init phase), then runs one invocation at a time:
a JSON line in on stdin, a JSON line out on the protocol pipe (the original stdout). The
handler's own prints and logs go to stderr, as they go to CloudWatch Logs in AWS.

Every boto3 call the handler makes is checked against the function's Policies (local/iam.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from local.iam import LocalResources, function_policy, install_check
from local.template import functions, layer_dirs, load_template


class Context:
    """What Lambda passes as `context` (the attributes Powertools and handlers read)."""

    def __init__(self, name: str, memory: int, timeout: float, request_id: str | None = None):
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The body Lambda returns for an unhandled error."""
    here = str(Path(__file__).resolve().parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(here)]
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": str(uuid.uuid4()),
        "stackTrace": [line.rstrip("\n") for line in traceback.format_list(frames)],
    }


def _load_handler(spec: Any) -> Any:
    path = spec.handler_file
    if not path.is_file():
        return None
    sys.path.insert(0, str(spec.code_uri))  # the code dir is the root of the package in Lambda
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[path.stem] = module
    module_spec.loader.exec_module(module)
    handler = getattr(module, spec.handler_name, None)
    return handler if callable(handler) else None


def main(argv: list[str]) -> int:
    name, template_path = argv[0], argv[1]
    # The protocol owns the real stdout; whatever the handler prints goes to stderr.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    template = load_template(template_path)
    spec = functions(template)[name]
    local_names = json.loads(os.environ.get("CREDITS_LOCAL_RESOURCE_NAMES") or "{}")
    denials: list[tuple[str, str]] = []
    install_check(function_policy(template, name, LocalResources(template, local_names)),
                  on_denied=lambda action, resource: denials.append((action, resource)))
    for path in layer_dirs(template):
        sys.path.insert(0, str(path))

    try:
        handler, init_error = _load_handler(spec), None
    except Exception as exc:  # noqa: BLE001 - reported on every invocation, as Lambda does
        traceback.print_exc()
        handler, init_error = None, error_payload(exc, "Runtime.ImportModuleError")
    protocol.write(json.dumps({"ready": os.getpid()}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        denials.clear()
        started = time.time()
        reply: dict[str, Any]
        if init_error:
            reply = {"error": init_error}
        elif handler is None:
            message = f"Handler '{spec.handler_name}' missing on module '{spec.handler.rpartition('.')[0]}'"
            reply = {"error": {"errorMessage": message, "errorType": "Runtime.HandlerNotFound", "stackTrace": []}}
        else:
            context = Context(name, spec.memory_size, spec.timeout)
            try:
                result = handler(request["event"], context)
            except Exception as exc:  # noqa: BLE001 - a function error, returned as Lambda does
                traceback.print_exc()
                reply = {"error": error_payload(exc)}
            else:
                try:
                    reply = {"result": json.loads(json.dumps(result))}
                except (TypeError, ValueError) as exc:
                    reply = {"error": error_payload(exc, "Runtime.MarshalError")}
        reply.update(started=started, ended=time.time(), pid=os.getpid(), denied=list(denials))
        sys.stderr.flush()
        protocol.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
