"""The OpenAPI 3.1 document, built from the routes and the pydantic models each handler declares.

A handler declares its contract with ``@operation(...)``; the document is assembled once at start-up
from the app's router, so it cannot drift from the routes that exist. Which operations need a service token comes
from `backend.api.access`, the middleware that checks it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sanic import Sanic

from backend.api.access import BODY_METHODS, PUBLIC_READS, READ_METHODS
from backend.api.common import ACTOR_PATTERN
from backend.api.schemas import ErrorOut

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """What a handler accepts and answers."""

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    headers: tuple[str, ...] = ()
    raw_body: tuple[str, ...] = ()
    """Media types of a body taken as it is, not as JSON (audio, say)."""


def operation(
    summary: str,
    *,
    tag: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    headers: tuple[str, ...] = (),
    raw_body: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach the operation's contract to a handler."""

    def attach(handler: Callable[..., Any]) -> Callable[..., Any]:
        contract = Operation(summary, tag, body, query, responses or {}, headers, raw_body)
        handler.__openapi__ = contract  # type: ignore[attr-defined]
        return handler

    return attach


_PARAM = re.compile(r"<([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?>")
_HEADER_SCHEMAS = {
    "Idempotency-Key": {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,64}$"},
    "X-Actor": {"type": "string", "pattern": ACTOR_PATTERN},
}
SECURITY_SCHEME = "serviceToken"
SECURITY_SCHEMES = {
    SECURITY_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "调用方服务的令牌（tools、actions、devices、channels），见 security.tokens；"
        "make run 时 tools 的令牌在 var/secrets/api-token。",
    }
}


def _path_and_params(uri: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for name, kind in _PARAM.findall(uri):
        schema: dict[str, Any] = {"type": "string"}
        if kind == "int":
            schema = {"type": "integer"}
        elif kind == "ymd":
            schema = {"type": "string", "format": "date"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return "/" + _PARAM.sub(r"{\1}", uri).lstrip("/"), params


def build_document(app: Sanic, *, title: str, version: str) -> dict[str, Any]:
    """Collect every route whose handler has an ``@operation`` into one OpenAPI document."""
    routes = []
    inputs: set[type[BaseModel]] = set()
    outputs: set[type[BaseModel]] = {ErrorOut}
    for route in app.router.routes:
        op: Operation | None = getattr(route.handler, "__openapi__", None)
        if op is None:
            continue
        routes.append((route, op))
        inputs.update(m for m in (op.body, op.query) if m is not None)
        outputs.update(m for m in op.responses.values() if m is not None)
    keyed = [(m, "validation") for m in sorted(inputs, key=attrgetter("__name__"))]
    keyed += [(m, "serialization") for m in sorted(outputs, key=attrgetter("__name__"))]
    refs, definitions = models_json_schema(keyed, ref_template=REF)
    schemas = definitions.get("$defs", {})

    paths: dict[str, dict[str, Any]] = {}
    for route, op in sorted(routes, key=lambda pair: pair[0].path):
        path, parameters = _path_and_params(route.path)
        if op.query is not None:
            query_schema = schemas[op.query.__name__]
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        for header in op.headers:
            parameters.append({"name": header, "in": "header", "required": False, "schema": _HEADER_SCHEMAS[header]})
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": route.name.split(".", 1)[-1],
            "parameters": parameters,
            "responses": {},
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        if op.raw_body:
            # OpenAPI 3.1: a media type without a schema is any bytes of that type.
            entry["requestBody"] = {"required": True, "content": {media: {} for media in op.raw_body}}
        for status, model in op.responses.items():
            response: dict[str, Any] = {"description": "成功" if status < 400 else "错误"}
            schema = refs[(model, "serialization")] if model is not None else None
            if status >= 400:
                schema = refs[(ErrorOut, "serialization")]
            if schema is not None:
                response["content"] = {"application/json": {"schema": schema}}
            entry["responses"][str(status)] = response
        error = {"description": "错误", "content": {"application/json": {"schema": refs[(ErrorOut, "serialization")]}}}
        if op.body is not None or op.raw_body or op.headers:
            entry["responses"].setdefault("400", error)  # broken JSON, a malformed X-Actor or Idempotency-Key
        entry["responses"].setdefault("422", error)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _guarded(entry, method, path, error)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": "就近办助手 jiujin 受理后台 REST API"},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _guarded(entry: dict[str, Any], method: str, path: str, error: dict[str, Any]) -> dict[str, Any]:
    """The operation with the doors of `backend.api.access`: the token it needs (none for a public read) and the
    refusals it can meet (421 unknown Host, 403 foreign Origin, 401 token, 415 a body that is not JSON)."""
    public = method in READ_METHODS and PUBLIC_READS.fullmatch(path) is not None
    guarded = entry | {"security": [] if public else [{SECURITY_SCHEME: []}], "responses": dict(entry["responses"])}
    refusals = ["403", "421"] + ([] if public else ["401"])
    body = entry.get("requestBody", {}).get("content", {})
    if method in BODY_METHODS and (not body or "application/json" in body):  # raw bytes (speech) are not checked
        refusals.append("415")
    for status in refusals:
        guarded["responses"].setdefault(status, error)
    return guarded
