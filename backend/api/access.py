"""Who may talk to the backend, checked in one middleware before any handler runs.

- Every request: its ``Host`` must be one of ours (``Settings.allowed_hosts``, FOLLOW_URL's host), else 421. A
  forged Host could otherwise steer the links the backend writes and reach it through DNS rebinding.
- ``/api/v1``: a request that says it comes from a page (``Origin``) of another site is refused (403), before
  anything else: a web page open on a counter's or a staff member's machine must not drive the API.
- ``/api/v1`` except the public reads: ``Authorization: Bearer <token>`` of one of the calling services
  (`security.tokens`), else 401 with ``WWW-Authenticate: Bearer``. The service becomes ``request.ctx.service``, the
  actor of the audit log (`backend.api.common.actor`).
- ``/api/v1`` bodies are JSON (``application/json``), else 415; an operation that takes raw bytes (speech) says so
  in its ``@operation(raw_body=...)``.

The console (its own sessions, CSRF token and Origin check) and the pages (/board, /follow, /kiosk) are outside the
token rule; the Host rule holds for them too. Tokens are kept as SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sanic import HTTPResponse, Request, Sanic, json
from sanic.headers import parse_host

from backend.config import Settings
from backend.errors import ApiError
from security.tokens import SERVICES, service_token, token_variable

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PUBLIC_READS = re.compile(
    r"/api/v1/(?:items(?:/[^/]+)?|opening-hours|health|openapi\.json|queue/events|queue/board)/?",
)
"""What anyone may read without a token (GET and HEAD only), as nginx's public front serves it: the catalog, the
opening hours, health, the OpenAPI document, and the hall's board and its event stream."""
READ_METHODS = frozenset({"GET", "HEAD"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MIN_TOKEN_LENGTH = 24
"""Shortest token accepted (the files hold 43 characters): a short one could be guessed."""

UNKNOWN_HOST = ApiError(421, "unknown_host", "访问的主机名不属于本系统。")
FOREIGN_ORIGIN = ApiError(403, "foreign_origin", "不接受来自其他网站页面的请求。")
TOKEN_MISSING = ApiError(401, "token_required", "请先提供服务令牌（Authorization: Bearer …）。")
TOKEN_WRONG = ApiError(401, "invalid_token", "服务令牌不正确。")
NOT_JSON = ApiError(415, "unsupported_media_type", "请求内容须为JSON（Content-Type: application/json）。")


class ServiceTokens:
    """The accepted tokens as ``{sha256 digest: service}``; `service_of` compares a presented token in constant
    time against every one of them."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        digests: dict[bytes, str] = {}
        for service, token in tokens.items():
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"the {service} service token is too short (at least {MIN_TOKEN_LENGTH} characters; "
                    f"set {token_variable(service)} or delete its file to have a new one made)"
                )
            digest = _digest(token)
            if digest in digests:
                raise ValueError(f"the {digests[digest]} and {service} services share one token: each needs its own")
            digests[digest] = service
        self._digests = tuple(digests.items())

    @property
    def services(self) -> tuple[str, ...]:
        """The services that have a token."""
        return tuple(service for _, service in self._digests)

    def service_of(self, token: str) -> str | None:
        """The service whose token ``token`` is, or None."""
        presented = _digest(token)
        found = None
        for digest, service in self._digests:  # no early exit: every token is compared, whichever matches
            if hmac.compare_digest(digest, presented):
                found = service
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def load_tokens(settings: Settings) -> ServiceTokens:
    """The tokens of ``settings``, or every service's from its variable or file (files made when missing)."""
    if settings.service_tokens is not None:
        return ServiceTokens(settings.service_tokens)
    tokens = {service: service_token(service, create=True) for service in SERVICES}
    return ServiceTokens({service: token for service, token in tokens.items() if token})


@dataclass(frozen=True)
class Doors:
    """What the middleware checks against: the tokens, and the hosts and origins that are ours."""

    tokens: ServiceTokens
    hosts: frozenset[str]
    """Allowed hosts, lower case: ``name`` (any port) or ``name:port``."""
    origins: frozenset[str]
    """Allowed origins besides the request's own, lower case: ``scheme://host[:port]``."""

    @classmethod
    def of(cls, settings: Settings) -> Doors:
        """The doors of ``settings`` (loads the tokens: called when a worker starts)."""
        follow = urlsplit(settings.follow_url)
        hosts = {h.lower() for h in settings.allowed_hosts}
        origins = {o.lower().rstrip("/") for o in settings.allowed_origins}
        if follow.netloc:  # residents' phones open /follow at this address: it is ours
            hosts.add(follow.netloc.lower())
            origins.add(f"{follow.scheme}://{follow.netloc}".lower())
        return cls(load_tokens(settings), frozenset(hosts), frozenset(origins))

    def host_allowed(self, host: str) -> bool:
        """Whether a Host header names this backend."""
        name, port = parse_host(host.strip())  # IPv6 keeps its brackets: "[::1]"
        if not name:
            return False
        return name in self.hosts or (port is not None and f"{name}:{port}" in self.hosts)

    def origin_allowed(self, origin: str, host: str) -> bool:
        """Whether a browser's Origin is this backend's own (same host as the request's) or a configured one."""
        origin = origin.strip().lower().rstrip("/")
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            return False  # "null" (sandboxed frames, files) and anything else odd
        return parts.netloc == host.strip().lower() or origin in self.origins


def install(app: Sanic) -> None:
    """Load the tokens when a worker starts and check every request (registered before any other middleware)."""

    @app.before_server_start
    async def load_doors(app: Sanic) -> None:
        app.ctx.doors = Doors.of(app.ctx.settings)
        logger.info("internal API tokens loaded for: %s", ", ".join(app.ctx.doors.tokens.services) or "nobody")

    app.on_request(check_request, priority=100)


async def check_request(request: Request) -> HTTPResponse | None:
    """The middleware: None lets the request through, a response refuses it."""
    doors: Doors = request.app.ctx.doors
    host = request.headers.getone("host", "")
    if not doors.host_allowed(host):
        logger.warning("refused a request for an unknown host on %s %s", request.method, request.path)
        return _refuse(UNKNOWN_HOST)
    path = request.path
    if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
        return None
    origin = request.headers.getone("origin", None)
    if origin is not None and not doors.origin_allowed(origin, host):
        logger.warning("refused a cross-site request (%s %s)", request.method, path)
        return _refuse(FOREIGN_ORIGIN)
    request.ctx.service = None
    presented = _bearer(request.headers.getall("authorization", []))
    public = request.method in READ_METHODS and PUBLIC_READS.fullmatch(path) is not None
    if presented is None and not public:
        return _refuse(TOKEN_MISSING, authenticate='Bearer realm="jiujin"')
    if presented is not None:
        request.ctx.service = doors.tokens.service_of(presented)
        if request.ctx.service is None:  # also on a public read: a misconfigured caller learns at once
            logger.warning("refused a wrong service token on %s %s", request.method, path)
            return _refuse(TOKEN_WRONG, authenticate='Bearer realm="jiujin", error="invalid_token"')
    if request.method in BODY_METHODS and _has_body(request) and not _is_json(request) and not _takes_raw_body(request):
        return _refuse(NOT_JSON)
    return None


def _bearer(values: Iterable[str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header; "" for any other kind or a repeated header (never
    matches a token), None when there is none."""
    values = list(values)
    if not values:
        return None
    scheme, _, token = values[0].strip().partition(" ")
    if len(values) > 1 or scheme.lower() != "bearer":
        return ""
    return token.strip()


def _has_body(request: Request) -> bool:
    declared = request.headers.getone("content-length", "")
    chunked = "chunked" in request.headers.getone("transfer-encoding", "").lower()
    return chunked or (declared.isdigit() and int(declared) > 0) or bool(request.body)


def _takes_raw_body(request: Request) -> bool:
    operation = getattr(request.route.handler, "__openapi__", None) if request.route else None
    return bool(operation and operation.raw_body)


def _is_json(request: Request) -> bool:
    media = request.headers.getone("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _refuse(error: ApiError, *, authenticate: str | None = None) -> HTTPResponse:
    headers = {"WWW-Authenticate": authenticate} if authenticate else None
    return json(error.to_json(), status=error.status, headers=headers)
