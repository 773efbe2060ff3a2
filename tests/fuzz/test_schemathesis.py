"""Schemathesis against the hub's own OpenAPI schema, in-process over WSGI (DESIGN invariant 23).

Every operation in /api/schema/ — the service API, the public ledger and export endpoints and
the browsers' /collect/ endpoints — gets generated requests, valid and invalid, sent with a
service key that holds every scope and every purpose. Checks: no 5xx; every status code,
content type, header and body the hub answers with is the one the schema declares; and input
the schema forbids is refused with a 4xx.

CI runs a bounded, deterministic number of examples per operation. A long run by hand:
`HUB_FUZZ_EXAMPLES=500 make test ARGS="-m fuzz"`.
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.wsgi import application
from tests.fuzz.world import KNOWN, ORIGIN, SITE_KEY

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Loaded at collection, in-process: generating the schema touches no database. (Schemathesis'
# lazy `from_fixture` loader does not run under pytest 9, which dropped `Node._nodeid`.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# The key is ours (every call carries it), so no Authorization values are generated; and no
# undeclared query parameters: the API ignores those, as HTTP APIs do, and OpenAPI 3 cannot say so.
schema.config.generation.update(
    max_examples=EXAMPLES, deterministic=True, with_security_parameters=False, allow_extra_parameters=False
)
schema.config.update(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
)


@schema.hook
def before_generate_case(context: Any, strategy: Any) -> Any:
    return st.tuples(strategy, st.booleans()).map(_aim_at_known_things)


def _aim_at_known_things(drawn: tuple[schemathesis.Case, bool]) -> schemathesis.Case:
    """Random strings almost never name a real site key, subject or case: half of the valid cases
    are aimed at real ones (tests.fuzz.world), which is how the fuzzer gets past "not found"."""
    case, aim = drawn
    if not aim or not KNOWN or case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    for name in list(case.path_parameters or {}):
        if name in KNOWN:
            case.path_parameters[name] = KNOWN[name]  # type: ignore[index]
    for name in ("site", "purpose", "user_id"):
        if case.query is not None and name in case.query:
            case.query[name] = KNOWN[name]
    if isinstance(case.body, dict):
        if case.operation.path.startswith("/collect/"):
            case.body["site"] = SITE_KEY
        decisions = case.body.get("decisions")
        if isinstance(decisions, dict) and decisions:
            purposes = KNOWN["purposes"]
            case.body["decisions"] = {
                purposes[i % len(purposes)]: value for i, value in enumerate(decisions.values())
            }
    return case


@schema.parametrize()
# One database transaction per operation, shared by its examples: what earlier examples created
# (subjects, decisions, requests) is there for later ones.
@settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture], deadline=None)
def test_api_holds_its_schema_on_any_input(case: schemathesis.Case, service_key: str) -> None:
    # an Origin on every call: without one the browsers' writes would all stop at 403 origin_required
    headers = {"Authorization": f"Bearer {service_key}", "Origin": ORIGIN}
    case.call_and_validate(headers=headers, checks=CHECKS)
