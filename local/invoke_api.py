"""The Lambda Invoke API (what `sam local start-lambda` serves), for boto3's lambda client:

    boto3.client("lambda", endpoint_url="http://127.0.0.1:3001", ...).invoke(FunctionName="ExpiryFunction")
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any
from urllib.parse import unquote

from local.httpd import BadFraming, BodyTooLarge, Handler, Server
from local.lambdas import FunctionRuntime, UnknownFunction, lambda_error_payload, log_exception, resolve_function_name

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
MAX_PAYLOAD = 6 * 1024 * 1024  # synchronous invocation payload limit


class InvokeApi:
    def __init__(self, runtime: FunctionRuntime):
        self.runtime = runtime
        self.server: Server | None = None

    def invoke(self, raw_name: str, payload: bytes, invocation_type: str) -> tuple[int, list[tuple[str, str]], bytes]:
        request_id = str(uuid.uuid4())
        base = [("x-amzn-RequestId", request_id), ("Content-Type", "application/json")]
        name = resolve_function_name(unquote(raw_name))
        try:
            self.runtime.spec(name)
        except UnknownFunction:
            return self._client_error(404, "ResourceNotFoundException", f"Function not found: {raw_name}", base)
        try:
            event = json.loads(payload) if payload.strip() else {}
        except ValueError as exc:
            return self._client_error(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}", base
            )

        if invocation_type == "DryRun":
            return 204, base, b""
        if invocation_type == "Event":
            threading.Thread(target=self._run_async, args=(name, event), name=f"invoke-{name}", daemon=True).start()
            return 202, base, b""

        headers = [*base, ("X-Amz-Executed-Version", "$LATEST")]
        try:
            result = self.runtime.invoke(name, event)
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports a function error
            log_exception(f"{name} failed", exc)
            body = json.dumps(lambda_error_payload(exc)).encode()
            return 200, [*headers, ("X-Amz-Function-Error", "Unhandled")], body
        try:
            body = json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            error = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError", "stackTrace": []}
            return 200, [*headers, ("X-Amz-Function-Error", "Unhandled")], json.dumps(error).encode()
        return 200, headers, body

    def _run_async(self, name: str, event: Any) -> None:
        try:
            self.runtime.invoke(name, event)
        except Exception as exc:  # noqa: BLE001
            log_exception(f"{name} failed (async invocation)", exc)

    @staticmethod
    def _client_error(status: int, error_type: str, message: str, headers: list[tuple[str, str]]):
        body = json.dumps({"Type": "User", "Message": message}).encode()
        return status, [*headers, ("x-amzn-ErrorType", error_type)], body

    def serve(self, host: str = "127.0.0.1", port: int = 3001, quiet: bool = False) -> Server:
        api = self

        class InvokeHandler(Handler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                try:
                    body = self.read_body(MAX_PAYLOAD)
                except BodyTooLarge:
                    status, headers, payload = api._client_error(
                        413, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation", []
                    )
                    return self.send(status, payload, headers)
                except BadFraming as exc:
                    return self.send_bad_framing(exc)
                match = _INVOKE_PATH.match(self.path.split("?")[0])
                if not match:
                    status, headers, payload = api._client_error(
                        404, "UnknownOperationException", f"unsupported path {self.path}", [("Content-Type", "application/json")]
                    )
                    return self.send(status, payload, headers)
                # botocore sends X-Amz-Invocation-Type; also accept a bare InvocationType header.
                invocation_type = (
                    self.headers.get("X-Amz-Invocation-Type") or self.headers.get("InvocationType") or "RequestResponse"
                )
                status, headers, payload = api.invoke(match["name"], body, invocation_type)
                self.send(status, payload, headers)

        InvokeHandler.quiet = quiet
        self.server = Server(host, port, InvokeHandler, "lambda").start()
        return self.server

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None
