"""What each console role sees and may do, in one place (一窗受理: the front accepts and hands out, departments
process their own cases, social workers follow the cases they filed for residents, admins do everything).

Which cases a role sees is `backend.services.staff_cases.visible`; `actions` names the status changes a role may make,
which the status machine narrows further.
"""

from __future__ import annotations

from sanic import Request

from backend.case_status import TRANSITIONS, CaseStatus
from backend.models import Case, StaffRole, StaffUser
from backend.services import staff_cases

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


def actions(user: StaffUser, status: CaseStatus) -> list[CaseStatus]:
    """The status changes ``user`` may make to a case in ``status``, in the status machine's order."""
    allowed = ROLE_ACTIONS[user.role] & TRANSITIONS[status]
    return [target for target in CaseStatus if target in allowed]


async def visible_case(request: Request, case_number: str) -> Case | None:
    """The case ``case_number`` if the signed-in user may see it, else None."""
    return await staff_cases.visible_case(request.app.ctx.db, request.ctx.staff.user, case_number)
