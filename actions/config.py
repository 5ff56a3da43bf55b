"""Action-server settings, read from the environment by pydantic-settings (the service token: `security.tokens`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from security.tokens import internal_api_url


class ActionSettings(BaseSettings):
    """Where the backend is, how long to wait for it, and how long a write may keep retrying.

    ``ActionSettings()`` (or `from_env`) reads the environment variables the fields name over the defaults; keyword
    arguments, by field name, come first. An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,  # exactly the names below: fields without one are never read from the environment
        env_ignore_empty=True,
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

    backend_url: str = Field(default_factory=internal_api_url, validation_alias="BACKEND_URL")
    """Base URL of the intake backend (BACKEND_URL, else ``http://127.0.0.1:$BACKEND_PORT``)."""
    timeout_s: float = Field(5.0, gt=0, validation_alias="BACKEND_TIMEOUT_S")
    """Per-request timeout in seconds (BACKEND_TIMEOUT_S); WeChat waits 5 s for a whole turn, so keep this short."""
    item_cache_s: float = Field(60.0, ge=0)
    """How long catalog items fetched from the backend are reused, in seconds."""
    write_retry_s: float = Field(20.0, ge=0, validation_alias="BACKEND_WRITE_RETRY_S")
    """Budget in seconds, all attempts included, within which a write that carries an Idempotency-Key (filing a
    case, taking a number) is retried while the backend or its database restarts (BACKEND_WRITE_RETRY_S; 0: one
    attempt). Reads are never retried. WeChat answers a turn slower than 5 s later by customer-service message
    and the voice counter waits 30 s for Rasa, so keep it well under 30."""
    write_backoff_s: float = Field(0.2, ge=0)
    """Pause before the first retry of a write, in seconds; it doubles after each attempt. Each pause is longer by
    up to this much again, at random, so that action servers retrying together spread out."""
    write_backoff_max_s: float = Field(2.0, ge=0)
    """Longest pause between two attempts of a write, in seconds, before the random part."""
    backend_token: str | None = None
    """The "actions" service token the backend's internal API asks for; None: JIUJIN_ACTIONS_TOKEN or its file
    under JIUJIN_SECRETS_DIR (`security.tokens`), read when a request is made until it is there (the backend
    makes the file when it starts)."""

    @field_validator("backend_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("BACKEND_URL must be an http(s) URL")
        return url.rstrip("/")

    @classmethod
    def from_env(cls) -> ActionSettings:
        """Settings from BACKEND_URL (or BACKEND_PORT), BACKEND_TIMEOUT_S and BACKEND_WRITE_RETRY_S."""
        return cls()
