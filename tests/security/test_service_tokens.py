"""The internal API's door, tried as a stranger would, against a real backend process: without a service token, with
a made-up one, from another site's page, under a forged Host, with a body that is not JSON. The backend makes its
tokens in a folder of this module (JIUJIN_SECRETS_DIR), and the test reads them there as every client does."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.api.access import Doors
from backend.config import Settings
from harness.processes import backend_process, free_port
from security.tokens import SERVICES, service_token, token_path, token_variable

FOREIGN = "https://evil.example"
TICKET = {"category": "A", "channel": "counter"}
SAMPLE_PARAMS = {"window": "1", "service_day": "2026-11-26", "job_id": "1", "number": "A001"}
"""Values for the path parameters of the OpenAPI document (any other: "x")."""


@dataclass(frozen=True)
class Backend:
    """The running backend, its secrets folder, its database file and the tokens it made."""

    base: str
    secrets: Path
    database: Path
    tokens: dict[str, str]

    def bearer(self, service: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[service]}"}

    def audit(self, action: str) -> list[tuple[str, str]]:
        """(actor, entity id) of the audit entries of ``action``, oldest first."""
        with sqlite3.connect(self.database) as db:
            rows = db.execute("SELECT actor, entity_id FROM audit_log WHERE action = ? ORDER BY id", (action,))
            return [(actor, entity) for actor, entity in rows]

    def tickets_taken(self) -> int:
        with sqlite3.connect(self.database) as db:
            return int(db.execute("SELECT count(*) FROM queue_tickets").fetchone()[0])


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    folder = tmp_path_factory.mktemp("service-tokens")
    secrets, database = folder / "secrets", folder / "jiujin.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JIUJIN_SECRETS_DIR", str(secrets))
        for service in SERVICES:  # the files, not a token someone left in the environment
            env.delenv(token_variable(service), raising=False)
        assert not secrets.exists()
        with backend_process(f"sqlite:///{database}", free_port(), folder / "backend.log") as base:
            tokens = {service: service_token(service) for service in SERVICES}
            assert all(tokens.values()), tokens
            yield Backend(base, secrets, database, {s: t for s, t in tokens.items() if t})


def _operations(document: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(method, concrete path, public) of every operation the document lists."""
    found = []
    for template, methods in document["paths"].items():
        path = template
        for name in [part[1:-1] for part in template.split("/") if part.startswith("{")]:
            path = path.replace(f"{{{name}}}", SAMPLE_PARAMS.get(name, "x"))
        for method, entry in methods.items():
            found.append((method.upper(), path, entry["security"] == []))
    return found


def _status(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The answer's head only: the event stream never ends, so its body is not read."""
    with httpx.stream(method, url, timeout=10, **kwargs) as response:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.read()
        return response


def test_every_operation_but_the_public_reads_refuses_a_missing_or_made_up_token(backend: Backend) -> None:
    document = httpx.get(f"{backend.base}/api/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["serviceToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["serviceToken"]["description"],
    }
    operations = _operations(document)
    public = {(method, path) for method, path, is_public in operations if is_public}
    assert public == {
        ("GET", "/api/v1/items"),
        ("GET", "/api/v1/items/search"),
        ("GET", "/api/v1/items/x"),
        ("GET", "/api/v1/opening-hours"),
        ("GET", "/api/v1/queue/board"),
        ("GET", "/api/v1/queue/events"),
    }
    guarded = [(method, path) for method, path, is_public in operations if not is_public]
    assert len(guarded) >= 20  # cases, tickets, windows, print jobs, notifications, identity, speech …
    made_up = "Bearer " + "x" * 43
    for method, path in guarded:
        for headers, code in (({}, "token_required"), ({"Authorization": made_up}, "invalid_token")):
            refused = _status(method, f"{backend.base}{path}", headers=headers | {"X-Actor": "staff:admin"})
            assert refused.status_code == 401, (method, path, headers, refused.text)
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert refused.json()["error"]["code"] == code
            assert "令牌" in refused.json()["error"]["message"]
    assert backend.tickets_taken() == 0 and backend.audit("queue.take") == []


def test_the_public_reads_stay_open(backend: Backend) -> None:
    for path in (
        "/api/v1/items",
        "/api/v1/items/senior_transit_card",
        "/api/v1/items/search?q=老年卡",
        "/api/v1/opening-hours",
        "/api/v1/health",
        "/api/v1/openapi.json",
        "/api/v1/queue/board",
        "/api/v1/queue/events",
    ):
        assert _status("GET", f"{backend.base}{path}").status_code == 200, path
    # Pages and the console are not behind a service token: the console keeps its own sign-in.
    assert httpx.get(f"{backend.base}/board").status_code == 200
    assert httpx.get(f"{backend.base}/console/login").status_code == 200
    # Public means reading: the same paths take no writes without a token.
    checklist = httpx.post(f"{backend.base}/api/v1/items/senior_transit_card/checklist", json={})
    assert checklist.status_code == 401


def test_each_service_token_works_and_the_audit_log_names_that_service(backend: Backend) -> None:
    taken = []
    for service in SERVICES:
        response = httpx.post(f"{backend.base}/api/v1/queue/tickets", json=TICKET, headers=backend.bearer(service))
        assert response.status_code == 201, (service, response.text)
        taken.append(response.json()["number"])
    called = httpx.post(
        f"{backend.base}/api/v1/queue/windows/2/call-next", headers=backend.bearer("devices") | {"X-Actor": "keypad:2"}
    )
    assert called.status_code == 200, called.text
    assert backend.audit("queue.take")[-len(SERVICES) :] == list(zip(SERVICES, taken, strict=True))
    # X-Actor is the caller's own detail, after the service its token proves; it never stands alone.
    assert backend.audit("queue.call")[-1] == ("devices:keypad:2", called.json()["number"])


def test_a_token_is_taken_only_as_a_bearer_token_of_its_own(backend: Backend) -> None:
    token = backend.tokens["tools"]
    for authorization in (f"Basic {token}", f"Token {token}", token, f"Bearer {token}x", f"Bearer {token[:-1]}"):
        refused = httpx.get(f"{backend.base}/api/v1/cases", headers={"Authorization": authorization})
        assert refused.status_code == 401, authorization
    twice = httpx.get(f"{backend.base}/api/v1/cases", headers=[("Authorization", f"Bearer {token}")] * 2)
    assert twice.status_code == 401
    assert httpx.get(f"{backend.base}/api/v1/cases", headers={"Authorization": f"bearer  {token}"}).status_code == 200


def test_a_cross_site_text_plain_post_takes_no_number(backend: Backend) -> None:
    """A page on evil.example open in a browser at the counter posts a "simple" request, which browsers send
    without asking first: text/plain, no custom header, so no preflight."""
    before = backend.tickets_taken()
    body = '{"category": "A", "channel": "counter"}'
    for extra in ({}, backend.bearer("tools")):  # with a token too: another site's page is never a caller
        refused = httpx.post(
            f"{backend.base}/api/v1/queue/tickets",
            content=body,
            headers={"Content-Type": "text/plain", "Origin": FOREIGN} | extra,
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "foreign_origin"
    # Without an Origin (not a browser) text/plain is still not JSON.
    not_json = httpx.post(
        f"{backend.base}/api/v1/queue/tickets",
        content=body,
        headers={"Content-Type": "text/plain"} | backend.bearer("tools"),
    )
    assert not_json.status_code == 415 and not_json.json()["error"]["code"] == "unsupported_media_type"
    form = httpx.post(f"{backend.base}/api/v1/queue/tickets", data=TICKET, headers=backend.bearer("tools"))
    assert form.status_code == 415
    assert backend.tickets_taken() == before


def test_a_foreign_origin_is_refused_even_with_json_and_a_token(backend: Backend) -> None:
    before = backend.tickets_taken()
    for origin in (FOREIGN, "null", "http://127.0.0.1.evil.example", "http://localhost:1"):
        refused = httpx.post(
            f"{backend.base}/api/v1/queue/tickets",
            json=TICKET,
            headers={"Origin": origin} | backend.bearer("tools"),
        )
        assert refused.status_code == 403, origin
    read = httpx.get(f"{backend.base}/api/v1/items", headers={"Origin": FOREIGN})
    assert read.status_code == 403
    assert backend.tickets_taken() == before
    # The backend's own pages (the board, the console) are of its own origin.
    own = httpx.post(
        f"{backend.base}/api/v1/queue/tickets", json=TICKET, headers={"Origin": backend.base} | backend.bearer("tools")
    )
    assert own.status_code == 201


def test_a_forged_host_is_refused_everywhere(backend: Backend) -> None:
    for host in ("evil.example", "127.0.0.1.evil.example", "localhost.evil.example:8000", ""):
        for path in ("/api/v1/items", "/api/v1/health", "/board", "/console/login", "/api/v1/cases"):
            refused = httpx.get(f"{backend.base}{path}", headers={"Host": host} | backend.bearer("tools"))
            assert refused.status_code == 421, (host, path)
            assert refused.json()["error"]["code"] == "unknown_host"
        taken = httpx.post(
            f"{backend.base}/api/v1/queue/tickets", json=TICKET, headers={"Host": host} | backend.bearer("tools")
        )
        assert taken.status_code == 421
    port = backend.base.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert httpx.get(f"{backend.base}/api/v1/items", headers={"Host": host}).status_code == 200, host


def test_the_token_files_are_the_owners_only(backend: Backend) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JIUJIN_SECRETS_DIR", str(backend.secrets))
        paths = {service: token_path(service) for service in SERVICES}
    assert paths["tools"] == backend.secrets / "api-token"  # the fixed contract
    assert stat.S_IMODE(backend.secrets.stat().st_mode) == 0o700
    for service, path in paths.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, service
        assert path.read_text().strip() == backend.tokens[service]
    assert len(set(backend.tokens.values())) == len(SERVICES)  # each service its own token
    assert sorted(p.name for p in backend.secrets.iterdir()) == sorted(p.name for p in paths.values())


def test_hosts_origins_and_tokens_are_read_strictly() -> None:
    """The rules behind the doors, without a server: a port named is that port only, FOLLOW_URL's host and origin
    are ours, and tokens that could be guessed or confused are refused when the backend starts."""
    tokens = {service: f"{service}-{'t' * 30}" for service in SERVICES}
    settings = Settings(
        service_tokens=tokens,
        allowed_hosts=("127.0.0.1", "front.example:8443"),
        follow_url="https://jiujin.example.gov.cn/follow",
    )
    doors = Doors.of(settings)
    assert doors.host_allowed("127.0.0.1:8000") and doors.host_allowed("front.example:8443")
    assert not doors.host_allowed("front.example:8444") and not doors.host_allowed("front.example")
    assert doors.host_allowed("jiujin.example.gov.cn") and not doors.host_allowed("example.gov.cn")
    assert not doors.host_allowed("127.0.0.1 evil.example") and not doors.host_allowed("[::1]")
    assert doors.origin_allowed("https://jiujin.example.gov.cn", "127.0.0.1:8000")
    assert doors.origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert not doors.origin_allowed("http://127.0.0.1:8001", "127.0.0.1:8000")
    assert [doors.tokens.service_of(tokens[s]) for s in SERVICES] == list(SERVICES)
    assert doors.tokens.service_of("") is None and doors.tokens.service_of(tokens["tools"] + " ") is None
    with pytest.raises(ValueError, match="too short"):
        Doors.of(settings.model_copy(update={"service_tokens": {"tools": "short"}}))
    with pytest.raises(ValueError, match="share one token"):
        Doors.of(settings.model_copy(update={"service_tokens": {"tools": "x" * 40, "devices": "x" * 40}}))
