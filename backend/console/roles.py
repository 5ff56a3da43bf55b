"""What each console role sees and may do, in one place (一窗受理: the front accepts and hands out, departments
process their own cases, social workers follow the cases they filed for residents, admins do everything).

`visible` narrows every query of cases, so a department cannot even open another department's case by guessing
its number; `actions` names the status changes a role may make, which the status machine narrows further.
"""

from __future__ import annotations

from sanic import Request
from sqlalchemy import Select, select

from backend.models import Case, StaffRole, StaffUser
from backend.status import TRANSITIONS, CaseStatus

_S = CaseStatus
ROLE_ACTIONS: dict[StaffRole, frozenset[CaseStatus]] = {
    StaffRole.FRONT_DESK: frozenset({_S.ACCEPTED, _S.NEEDS_CORRECTION, _S.REJECTED, _S.WITHDRAWN, _S.HANDED_OUT}),
    StaffRole.DEPARTMENT: frozenset({_S.PROCESSING, _S.NEEDS_CORRECTION, _S.COMPLETED}),
    StaffRole.SOCIAL_WORKER: frozenset({_S.DELIVERED}),
    StaffRole.ADMIN: frozenset(CaseStatus),
}

ROLE_INBOX: dict[StaffRole, tuple[CaseStatus, ...]] = {
    StaffRole.FRONT_DESK: (_S.SUBMITTED, _S.NEEDS_CORRECTION, _S.COMPLETED),
    StaffRole.DEPARTMENT: (_S.ACCEPTED, _S.PROCESSING),
    StaffRole.SOCIAL_WORKER: (),
    StaffRole.ADMIN: (),
}
"""The statuses a role's inbox shows first (its work: to accept, to process, to hand out); () shows every case."""

ROLE_LABELS = {
    StaffRole.FRONT_DESK: "前台受理",
    StaffRole.DEPARTMENT: "后台办理",
    StaffRole.SOCIAL_WORKER: "社工代办",
    StaffRole.ADMIN: "管理员",
}

ACTION_LABELS = {
    _S.ACCEPTED: "受理",
    _S.NEEDS_CORRECTION: "一次性告知补正",
    _S.REJECTED: "不予受理",
    _S.PROCESSING: "开始办理",
    _S.COMPLETED: "办结",
    _S.HANDED_OUT: "出件",
    _S.DELIVERED: "已送达（上门）",
    _S.WITHDRAWN: "撤销",
}


def visible(statement: Select, user: StaffUser) -> Select:
    """``statement`` (over cases) narrowed to the cases ``user`` may see."""
    if user.role is StaffRole.DEPARTMENT:
        return statement.where(Case.department == user.department)
    if user.role is StaffRole.SOCIAL_WORKER:
        return statement.where(Case.proxy_staff == user.username)
    return statement


def actions(user: StaffUser, status: CaseStatus) -> list[CaseStatus]:
    """The status changes ``user`` may make to a case in ``status``, in the status machine's order."""
    allowed = ROLE_ACTIONS[user.role] & TRANSITIONS[status]
    return [target for target in CaseStatus if target in allowed]


async def visible_case(request: Request, case_number: str) -> Case | None:
    """The case ``case_number`` if the signed-in user may see it, else None."""
    statement = visible(select(Case).where(Case.case_number == case_number[:20]), request.ctx.staff.user)
    async with request.app.ctx.db.read() as session:
        return (await session.execute(statement)).unique().scalar_one_or_none()
