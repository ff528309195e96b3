"""Run in a fresh interpreter by bench.coldstart: import one handler module (or just boto3) and
handle one request; print the in-process timings as JSON. Kept free of the bench's imports."""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


class Context:
    function_name = "Bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Bench"
    memory_limit_in_mb = 512
    aws_request_id = "cold-start"
    log_group_name = "/aws/lambda/Bench"
    log_stream_name = "bench"
    identity = None
    client_context = None
    tenant_id = None

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def main() -> None:
    kind, arg = sys.argv[1], json.loads(sys.argv[2])
    if kind in ("boto3", "boto3+call"):
        import boto3

        client = boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT_URL"])
        t1 = time.perf_counter()
        if kind == "boto3+call":
            client.get_item(TableName=os.environ["TABLE_NAME"], Key={"PK": {"S": "x"}, "SK": {"S": "y"}})
    else:
        sys.path[:0] = [arg["layer"], arg["code"]]
        import app  # noqa: F401 - the handler module, as Lambda's init phase imports it

        t1 = time.perf_counter()
        result = app.lambda_handler(arg["event"], Context())
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        if status >= 300:
            raise SystemExit(f"{kind} answered {status}: {result}")
    t2 = time.perf_counter()
    print(json.dumps({"init_ms": (t1 - T0) * 1000, "request_ms": (t2 - t1) * 1000, "total_ms": (t2 - T0) * 1000}))


main()
