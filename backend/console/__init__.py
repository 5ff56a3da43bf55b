"""The staff console at ``/console``: server-rendered pages for the front desk, the departments' back office,
social workers and admins (see `backend.console.roles` for who sees and does what)."""

from __future__ import annotations

from sanic import Blueprint

from backend.console.admin import admin_pages
from backend.console.admin_catalog import catalog_pages
from backend.console.admin_hours import hours_pages
from backend.console.cases import case_pages
from backend.console.login import login_pages
from backend.console.statistics import statistics_pages
from backend.console.visit_filing import filing_pages
from backend.console.visit_photos import photo_pages
from backend.console.visits import visit_pages

console = Blueprint.group(
    login_pages,
    case_pages,
    admin_pages,
    catalog_pages,
    hours_pages,
    statistics_pages,
    visit_pages,
    filing_pages,
    photo_pages,
)
