"""Fuzz every operation of the OpenAPI document with schemathesis: never a 5xx, always the documented answer.

Schemathesis generates requests from the document (valid ones, and ones that break it on purpose); each is
sent through the project's own ``Api`` client to an in-process app on a fresh SQLite database, and the
response is checked against the document. The run is bounded and derandomized so CI sees the same cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.api.openapi import build_document
from backend.app import VERSION
from backend.catalog.loader import default_catalog
from backend.catalog.schema import Catalog
from tests.conftest import Api, make_app, running

# The server-sent events stream never ends, so a request to it would never return a response to check.
STREAMING = {("GET", "/api/v1/queue/events")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BASE_URL = "http://jiujin.test"
FUZZ_DAY = dt.date(2026, 11, 26)
"""A Thursday, the centre open: the answers must not depend on the day the tests run."""


def _schema() -> schemathesis.BaseSchema:
    """The document the app serves, built from its routes (no database is opened to build it)."""
    app = make_app("sqlite://", default_catalog(), follow_secret="fuzz-document")
    return schemathesis.openapi.from_dict(build_document(app, title="jiujin backend", version=VERSION))


SCHEMA = _schema()
OPERATIONS = {
    op.label: op
    for op in (result.ok() for result in SCHEMA.get_all_operations())
    if (op.method.upper(), op.path) not in STREAMING
}


def _strategy(label: str) -> st.SearchStrategy[Any]:
    operation = OPERATIONS[label]
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


@pytest.fixture
async def fuzz_api(request: pytest.FixtureRequest, sqlite_url: str, catalog: Catalog) -> AsyncIterator[Api]:
    """An app on a fresh SQLite file."""
    async with running(make_app(sqlite_url, catalog)) as client:
        client.set_today(FUZZ_DAY)
        yield client


async def _send(api: Api, case: Any) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    body = {key: kwargs[key] for key in ("json", "content") if key in kwargs}
    if "data" in kwargs:  # requests' name for a raw or form body
        data = kwargs["data"]
        body = {"content": data} if isinstance(data, (bytes, str)) else {"data": data}
    # The document asks for a bearer token, which schemathesis makes up: the caller's real one replaces it, so the
    # cases reach the handlers (tests/security/test_service_tokens.py tries the wrong and missing ones).
    headers = {name: value for name, value in (kwargs.get("headers") or {}).items() if name.lower() != "authorization"}
    return await api._client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers | api.bearer("tools"),
        params=kwargs.get("params"),
        **body,
    )


@pytest.mark.parametrize("label", sorted(OPERATIONS))
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
async def test_operation_conforms_to_the_document(fuzz_api: Api, label: str, data: st.DataObject) -> None:
    case = data.draw(_strategy(label), label="case")
    response = await _send(fuzz_api, case)
    assert response.status_code != 401, response.text  # the token is taken: the cases reach the handlers
    case.validate_response(response, checks=CHECKS)


async def test_fuzzed_document_is_the_served_one(sqlite_api: Api) -> None:
    response = await sqlite_api.get("/api/v1/openapi.json")
    assert response.json["paths"].keys() == SCHEMA.raw_schema["paths"].keys()
