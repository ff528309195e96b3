"""Schemathesis over the generated OpenAPI document, against the local stack: no 5xx, and every
response conforms to the document (status code, content type, body schema); requests the
document calls invalid are refused with 4xx, and no operation works without the bearer key.

Bounded for `make test` (FUZZ_MAX_EXAMPLES, default 10 per operation); `make fuzz` runs 500.
The number of cases that ran is printed at the end of the module (run with -s, or see
.pytest_cache/fuzz-cases.json).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tools.openapi import generate

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES") or 10)
AUTH = {"Authorization": "Bearer key_a"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]
REPORT = Path(__file__).resolve().parents[2] / ".pytest_cache" / "fuzz-cases.json"

schema = schemathesis.openapi.from_dict(generate())
schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")

_cases: Counter[str] = Counter()
_statuses: Counter[int] = Counter()
_lock = threading.Lock()


@pytest.fixture(scope="module", autouse=True)
def case_count():
    yield
    total = sum(_cases.values())
    summary = {"max_examples": MAX_EXAMPLES, "cases": total, "operations": len(_cases),
               "per_operation": dict(sorted(_cases.items())),
               "statuses": {str(k): v for k, v in sorted(_statuses.items())}}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nfuzz: {total} cases over {len(_cases)} operations (max_examples={MAX_EXAMPLES}); "
          f"statuses {summary['statuses']}")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case, stack):
    response = case.call(base_url=stack.api_url, headers=AUTH, timeout=30)
    with _lock:
        _cases[case.operation.label] += 1
        _statuses[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=AUTH)
