"""The Official Account's custom menu; ``bin/jiujin wechat menu publish`` publishes it.

Menu keys are read back by `wechat.inbound` when a follower taps them.
"""

from __future__ import annotations

from typing import Any

from wechat.settings import WeChatSettings

DEPARTMENT_KEYS = {
    "DEPT_medical_insurance": "医保",
    "DEPT_social_security": "社保",
    "DEPT_health": "卫健",
    "DEPT_civil_affairs": "民政",
    "DEPT_disabled_persons": "残联",
    "DEPT_public_security": "公安",
}
PROGRESS_KEY = "PROGRESS"
TAKE_NUMBER_KEY = "TAKE_NUMBER"
ALL_ITEMS_KEY = "ALL_ITEMS"
STAFF_KEY = "STAFF"


def _click(name: str, key: str) -> dict[str, str]:
    return {"type": "click", "name": name, "key": key}


def _department(key: str) -> dict[str, str]:
    return _click(f"{DEPARTMENT_KEYS[key]}事项", key)


MENU: dict[str, Any] = {
    "button": [
        {
            "name": "医保社保",
            "sub_button": [_department(k) for k in ("DEPT_medical_insurance", "DEPT_social_security", "DEPT_health")],
        },
        {
            "name": "民政公安",
            "sub_button": [
                _department(k) for k in ("DEPT_civil_affairs", "DEPT_disabled_persons", "DEPT_public_security")
            ],
        },
        {
            "name": "办事服务",
            "sub_button": [
                _click("查办理进度", PROGRESS_KEY),
                _click("取号排队", TAKE_NUMBER_KEY),
                _click("全部事项", ALL_ITEMS_KEY),
                _click("找工作人员", STAFF_KEY),
            ],
        },
    ]
}


async def publish(settings: WeChatSettings) -> None:
    """Replace the Official Account's custom menu with ``MENU`` (WeChat shows it within minutes)."""
    from wechat.client import WeChatApi
    from wechat.state import open_state

    if not (settings.appid and settings.secret):
        raise ValueError("WECHAT_APPID and WECHAT_SECRET must be set to publish the menu")
    await WeChatApi(settings, open_state(settings)).create_menu(MENU)
