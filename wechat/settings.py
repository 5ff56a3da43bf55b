"""WeChat settings, read from the environment (DESIGN.md's fixed names plus a few tuning knobs).

Parsed by hand with the standard library, unlike the Python 3.11 parts' pydantic-settings: this module also runs
inside the Rasa server, whose environment (Python 3.10) is pinned by Rasa 3.6 to pydantic 1, which pydantic-settings
does not support; a frozen dataclass reads the same in both environments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_API_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
AES_KEY = re.compile(r"[A-Za-z0-9]{43}")
"""WeChat's EncodingAESKey: 43 characters of base64 without the trailing "="."""


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class TemplateIds:
    """Template message ids, as registered in the Official Account's admin console (empty = not sent)."""

    case_accepted: str = ""
    correction_needed: str = ""
    ready_for_pickup: str = ""
    queue_near: str = ""
    case_status: str = ""
    """办件状态变更: the case's other status changes (办理中, 已出件, 已送达, 不予受理 and 撤销 with the reason)."""


@dataclass(frozen=True)
class WeChatSettings:
    """Everything the WeChat channel and client are configured with."""

    token: str = ""
    """WECHAT_TOKEN: the shared secret of the signature. Empty: the webhook refuses every request."""
    appid: str = ""
    """WECHAT_APPID: the Official Account's AppID (also the AES mode's receiver id)."""
    aes_key: str = ""
    """WECHAT_AES_KEY: the 43-character EncodingAESKey. Empty: plaintext mode; set: safe (AES) mode only."""
    secret: str = ""
    """WECHAT_SECRET: the AppSecret used to fetch access tokens."""
    api_base_url: str = OFFICIAL_API_BASE_URL
    """WECHAT_API_BASE_URL: where the API lives; the simulator's stand-in in development and tests."""
    redis_url: str = ""
    """REDIS_URL: shared state (de-duplication, quotas, access token) for several instances. Empty: embedded."""
    state_path: Path = PROJECT_ROOT / "var" / "wechat" / "state.db"
    """WECHAT_STATE_PATH: the embedded state store (SQLite, shared by the processes of one machine)."""
    reply_budget_s: float = 4.0
    """WECHAT_REPLY_BUDGET_S: a turn done within this time is answered passively; later, by customer service."""
    timestamp_tolerance_s: float = 300.0
    """WECHAT_TIMESTAMP_TOLERANCE_S: requests whose timestamp is further from now are refused as replays."""
    retry_interval_s: float = 30.0
    """WECHAT_RETRY_INTERVAL_S: seconds between two sweeps that resend customer-service messages a failing WeChat API
    refused (network, HTTP 5xx, errcode -1); each Rasa instance sweeps."""
    max_body_bytes: int = 64 * 1024
    """Largest request body accepted (WeChat's own messages are a few KB)."""
    templates: TemplateIds = field(default_factory=TemplateIds)
    """WECHAT_TEMPLATE_*: template message ids."""

    def __post_init__(self) -> None:
        if self.aes_key and not AES_KEY.fullmatch(self.aes_key):
            raise ValueError("WECHAT_AES_KEY must be the 43-character EncodingAESKey (letters and digits) or empty")
        if not self.retry_interval_s > 0:  # also refuses NaN
            raise ValueError(f"WECHAT_RETRY_INTERVAL_S must be a positive number of seconds: {self.retry_interval_s}")

    @property
    def safe_mode(self) -> bool:
        return bool(self.aes_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WeChatSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        def text(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        return cls(
            token=text("WECHAT_TOKEN"),
            appid=text("WECHAT_APPID"),
            aes_key=text("WECHAT_AES_KEY"),
            secret=text("WECHAT_SECRET"),
            api_base_url=text("WECHAT_API_BASE_URL", defaults.api_base_url).rstrip("/") + "/",
            redis_url=text("REDIS_URL"),
            state_path=Path(text("WECHAT_STATE_PATH", str(defaults.state_path))),
            reply_budget_s=_float(env, "WECHAT_REPLY_BUDGET_S", defaults.reply_budget_s),
            timestamp_tolerance_s=_float(env, "WECHAT_TIMESTAMP_TOLERANCE_S", defaults.timestamp_tolerance_s),
            retry_interval_s=_float(env, "WECHAT_RETRY_INTERVAL_S", defaults.retry_interval_s),
            templates=TemplateIds(
                case_accepted=text("WECHAT_TEMPLATE_CASE_ACCEPTED"),
                correction_needed=text("WECHAT_TEMPLATE_CORRECTION_NEEDED"),
                ready_for_pickup=text("WECHAT_TEMPLATE_READY_FOR_PICKUP"),
                queue_near=text("WECHAT_TEMPLATE_QUEUE_NEAR"),
                case_status=text("WECHAT_TEMPLATE_CASE_STATUS"),
            ),
        )
