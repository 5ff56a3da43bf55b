"""The staff console at ``/console``: server-rendered pages for the front desk, the departments' back office,
social workers and admins (see `backend.console.roles` for who sees and does what)."""

from __future__ import annotations

from sanic import Blueprint

from backend.console.cases import case_pages
from backend.console.login import login_pages

console = Blueprint.group(login_pages, case_pages)
