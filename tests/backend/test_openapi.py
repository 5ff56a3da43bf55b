"""The OpenAPI document is valid and describes every route the API serves."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.conftest import Api


async def test_document_is_valid_and_complete(sqlite_api: Api) -> None:
    response = await sqlite_api.get("/api/v1/openapi.json")
    assert response.status == 200
    document = response.json
    validate(document)
    paths = document["paths"]
    expected = {
        ("/api/v1/items", "get"),
        ("/api/v1/items/{item_id}", "get"),
        ("/api/v1/items/search", "get"),
        ("/api/v1/cases", "post"),
        ("/api/v1/cases", "get"),
        ("/api/v1/cases/{case_number}", "get"),
        ("/api/v1/cases/{case_number}/transitions", "post"),
        ("/api/v1/queue/tickets", "post"),
        ("/api/v1/queue/windows/{window}/call-next", "post"),
        ("/api/v1/queue/windows/{window}/recall", "post"),
        ("/api/v1/queue/windows/{window}/skip", "post"),
        ("/api/v1/queue/status", "get"),
        ("/api/v1/queue/board", "get"),
        ("/api/v1/queue/events", "get"),
        ("/api/v1/queue/windows/{window}/transfer", "post"),
        ("/api/v1/queue/windows/{window}/pause", "post"),
        ("/api/v1/queue/windows/{window}/resume", "post"),
        ("/api/v1/print-jobs", "post"),
        ("/api/v1/print-jobs", "get"),
        ("/api/v1/print-jobs/claim", "post"),
        ("/api/v1/print-jobs/{job_id}/sent", "post"),
        ("/api/v1/notifications", "get"),
    }
    assert expected <= {(path, method) for path, methods in paths.items() for method in methods}
    create = paths["/api/v1/cases"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CaseCreate")
    assert {p["name"] for p in create["parameters"]} >= {"Idempotency-Key"}
    case_create = document["components"]["schemas"]["CaseCreate"]
    assert set(case_create["required"]) == {"item_id", "resident", "channel"}


async def test_the_document_says_a_replayed_take_answers_200(sqlite_api: Api) -> None:
    document = (await sqlite_api.get("/api/v1/openapi.json")).json
    operation = document["paths"]["/api/v1/queue/tickets"]["post"]
    ticket = {"application/json": {"schema": {"$ref": "#/components/schemas/TicketOut"}}}
    assert operation["responses"]["201"]["content"] == operation["responses"]["200"]["content"] == ticket
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
