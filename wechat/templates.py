"""Template messages to a resident (they need no customer-service allowance): the case is accepted, 补正 is needed,
the result is ready, the case's status changed otherwise (办件状态变更), the queue number is near. Each notice also
has a plain text, used where no template id is configured (as a customer-service message) and in logs of what was
sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wechat.client import WeChatApi
from wechat.delivery import CustomerService
from wechat.settings import TemplateIds

CENTRE = "骆家庄便民服务中心"


@dataclass(frozen=True)
class Notice:
    """One notice: which template, its fields, and the same content as plain text."""

    kind: str
    """The TemplateIds field naming its template: case_accepted, correction_needed, ready_for_pickup, case_status,
    queue_near."""
    fields: dict[str, str]
    text: str

    def template_id(self, templates: TemplateIds) -> str:
        return str(getattr(templates, self.kind))

    def data(self) -> dict[str, dict[str, str]]:
        """WeChat's template data: {"first": {"value": …}, "keyword1": {"value": …}, …, "remark": {"value": …}}."""
        return {name: {"value": value} for name, value in self.fields.items()}


def case_accepted(case_number: str, item_name: str, accepted_on: str, deadline: str | None) -> Notice:
    outcome = f"预计 {deadline} 前办结" if deadline else "即办件，当场办结"
    return Notice(
        "case_accepted",
        {
            "first": "您的申请已受理。",
            "keyword1": case_number,
            "keyword2": item_name,
            "keyword3": accepted_on,
            "keyword4": outcome,
            "remark": "办理进度可以在公众号里回复“查进度”查看。",
        },
        f"您的申请已受理。办件编号 {case_number}，事项：{item_name}，{outcome}。",
    )


def correction_needed(case_number: str, item_name: str, missing: Sequence[str]) -> Notice:
    """补正: the complete list of what is missing, in one notice, so the resident comes back only once."""
    listed = "\n".join(f"{n}. {name}" for n, name in enumerate(missing, start=1))
    return Notice(
        "correction_needed",
        {
            "first": "您的申请需要补充材料，请一次带齐：",
            "keyword1": case_number,
            "keyword2": item_name,
            "keyword3": listed,
            "remark": f"请带齐以上材料到{CENTRE}综合窗口。",
        },
        f"您的申请（{case_number}，{item_name}）需要补充材料，请一次带齐：\n{listed}\n请带到{CENTRE}综合窗口。",
    )


def ready_for_pickup(case_number: str, item_name: str) -> Notice:
    return Notice(
        "ready_for_pickup",
        {
            "first": "您的事项已办好，可以来领取了。",
            "keyword1": case_number,
            "keyword2": item_name,
            "keyword3": f"{CENTRE}出件窗口",
            "remark": "领取时请带上本人身份证。",
        },
        f"您的事项已办好（{case_number}，{item_name}），请带上身份证到{CENTRE}出件窗口领取。",
    )


STATUS_WORDING: dict[str, tuple[str, str]] = {
    "processing": ("您的申请{about}正在办理中。", "办好后我们会再通知您。"),
    "handed_out": ("您的办件结果{about}已在窗口领取。", f"如不是您本人或您委托的人领取，请联系{CENTRE}。"),
    "delivered": ("您的办件结果{about}已由社工送到家中。", f"如没有收到，请联系{CENTRE}。"),
    "rejected": ("很抱歉，您的申请{about}未能受理。", f"如有疑问，请到{CENTRE}综合窗口咨询。"),
    "withdrawn": ("您的申请{about}已撤销。", "如还需要办理，欢迎重新申请。"),
}
"""办件状态变更 by status code: the opening line ({about}: where the plain text names the case) and the advice."""


def case_status(case_number: str, item_name: str, status: str, label: str, reason: str | None = None) -> Notice:
    """办件状态变更: ``status`` is one of STATUS_WORDING's codes and ``label`` its Chinese name. What staff wrote
    (keyword4) is the reason of a 不予受理 or 撤销, where it is required, and a remark otherwise."""
    if status not in STATUS_WORDING:
        raise ValueError(f"no 办件状态变更 wording for status {status!r}")
    opening, advice = STATUS_WORDING[status]
    fields = {"first": opening.format(about=""), "keyword1": case_number, "keyword2": item_name, "keyword3": label}
    text = opening.format(about=f"（{case_number}，{item_name}）")
    cause = (reason or "").strip().rstrip("。.；;，,！! ")
    if cause:
        fields["keyword4"] = cause
        text += f"{'原因' if status in {'rejected', 'withdrawn'} else '说明'}：{cause}。"
    fields["remark"] = advice
    return Notice("case_status", fields, text + advice)


def queue_near(number: str, ahead: int) -> Notice:
    return Notice(
        "queue_near",
        {
            "first": "快到您了。",
            "keyword1": number,
            "keyword2": f"前面还有 {ahead} 位",
            "remark": "请回到大厅留意叫号。",
        },
        f"快到您了：您的号 {number}，前面还有 {ahead} 位。请回到大厅留意叫号。",
    )


async def send_notice(api: WeChatApi, customer_service: CustomerService, openid: str, notice: Notice) -> str:
    """Send ``notice`` as a template message, or as a customer-service text where no template id is configured.
    Returns how it went out: "template", "customer_service", or "held" when the follower's customer-service allowance
    is used up and the text waits for their next message. WeChat errors propagate for the caller to retry."""
    template_id = notice.template_id(api.settings.templates)
    if template_id:
        await api.send_template(openid, template_id, notice.data())
        return "template"
    return "customer_service" if await customer_service.deliver(openid, notice.text) else "held"
