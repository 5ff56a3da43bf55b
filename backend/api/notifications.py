"""WeChat notices to residents, for staff: what went out, what waits for another attempt, what failed."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.common import parse_query
from backend.api.openapi import operation
from backend.api.responses import notification_out
from backend.api.schemas import NotificationList, NotificationQuery
from backend.notices import outbox as service

notifications = Blueprint("notifications", url_prefix="/api/v1/notifications")


@notifications.get("/", strict_slashes=False)
@operation("查看微信通知", tag="notifications", query=NotificationQuery, responses={200: NotificationList})
async def list_notifications(request: Request):
    """Notices, newest first, by status and by the case or ticket number they are about; OpenIDs masked."""
    query = parse_query(request, NotificationQuery)
    found = await service.list_notifications(
        request.app.ctx.db,
        status=query.status,
        subject=query.subject.upper() if query.subject else None,
        limit=query.limit,
    )
    return json([notification_out(n).model_dump(mode="json") for n in found])
