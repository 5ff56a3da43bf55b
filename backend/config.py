"""Backend settings, read once from the environment by pydantic-settings (`.env.example` lists every variable)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"


def _names(raw: str) -> tuple[str, ...]:
    """A comma-separated list (hosts, origins), lower-cased, without blanks or trailing slashes."""
    return tuple(p.strip().lower().rstrip("/") for p in raw.split(",") if p.strip())


def _window_departments(raw: str) -> dict[int, tuple[str, ...]]:
    """ "5=医保,社保;6=公安" → {5: ("医保", "社保"), 6: ("公安",)}; department names as in the catalog."""
    from backend.catalog.schema import Department

    known = {d.value for d in Department}
    windows: dict[int, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        window, _, names = part.partition("=")
        departments = tuple(n.strip() for n in names.split(",") if n.strip())
        if not window.strip().isdigit() or not departments or not set(departments) <= known:
            raise ValueError(f"WINDOW_DEPARTMENTS: cannot read {part!r} (e.g. 5=医保,社保;6=公安)")
        windows[int(window)] = departments
    return windows


class Settings(BaseSettings):
    """Everything the backend can be configured with, each field from the environment variable it names.

    ``Settings()`` (or `from_env`) reads the environment over the embedded defaults; keyword arguments, by field
    name, come first (tests give theirs so). An empty variable counts as unset; a value that cannot be read stops
    the start with a message naming the variable.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,  # exactly the names below: an unrelated HOST or PORT in the environment is no setting
        env_ignore_empty=True,
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        hide_input_in_errors=True,  # an error names the variable, never echoes a value (a URL's password, a secret)
    )

    database_url: str = Field(f"sqlite:///{VAR_DIR / 'jiujin.db'}", validation_alias="DATABASE_URL")
    """SQLAlchemy URL; ``postgresql://…`` in production. Drivers are chosen by `backend.db`."""
    host: str = Field("127.0.0.1", validation_alias="BACKEND_HOST")
    """Interface the backend listens on."""
    port: int = Field(8000, validation_alias="BACKEND_PORT")
    """TCP port of the backend."""
    service_tokens: dict[str, str] | None = None
    """Bearer tokens the internal API accepts, per calling service ({"tools": …, "actions": …}); None: each service
    of `security.tokens.SERVICES` from JIUJIN_<SERVICE>_TOKEN or its file under JIUJIN_SECRETS_DIR, the file made
    (mode 0600) when missing, as the server starts. Tests give them here directly."""
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1", "localhost", "[::1]"), validation_alias="BACKEND_ALLOWED_HOSTS"
    )
    """Host headers answered: a name alone allows any port, ``name:port`` that port only; BACKEND_ALLOWED_HOSTS
    (comma-separated) adds to these, FOLLOW_URL's host is allowed as well. Any other Host gets a 421."""
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="BACKEND_ALLOWED_ORIGINS")
    """BACKEND_ALLOWED_ORIGINS (comma-separated ``scheme://host[:port]``): pages of other origins that may call the
    API from a browser, besides the backend's own origin and FOLLOW_URL's; any other Origin gets a 403."""
    catalog_path: Path = Field(PROJECT_ROOT / "backend" / "catalog" / "items.yml", validation_alias="CATALOG_PATH")
    """The catalog data file."""
    auto_migrate: bool = Field(True, validation_alias="DB_AUTO_MIGRATE")
    """Apply Alembic migrations when the server starts (safe with several replicas: a lock serialises them)."""
    timezone: ZoneInfo = Field(default_factory=lambda: ZoneInfo("Asia/Shanghai"), validation_alias="CENTRE_TIMEZONE")
    """Local time of the centre: decides the service day, case-number dates and deadlines."""
    window_count: int = Field(6, validation_alias="WINDOW_COUNT")
    """Number of service windows in the hall (windows are numbered 1..window_count)."""
    window_departments: Annotated[dict[int, tuple[str, ...]], NoDecode] = Field(
        default_factory=dict, validation_alias="WINDOW_DEPARTMENTS"
    )
    """Windows that serve given departments first (WINDOW_DEPARTMENTS="5=医保,社保;6=公安"); the others serve all."""
    priority_streak_cap: int = Field(3, validation_alias="QUEUE_PRIORITY_STREAK_CAP")
    """At most this many 绿色通道 (V) tickets are called in a row while 综合 (A) tickets wait."""
    counter_url: str = Field("http://127.0.0.1:5090", validation_alias="COUNTER_URL")
    """COUNTER_URL: the counter service (``python -m counter``) as a counter's screen reaches it: ``GET /kiosk``
    redirects there, and ``bin/jiujin kiosk url`` prints its screen's address there."""
    follow_secret: str = Field("", validation_alias="FOLLOW_SECRET")
    """FOLLOW_SECRET: signs the links on receipts to a case's page; empty: one generated once in var/."""
    follow_url: str = Field("http://127.0.0.1:8000/follow", validation_alias="FOLLOW_URL")
    """FOLLOW_URL: the /follow pages as residents' phones reach them; a ticket printed without WeChat's QR code
    (WeChat not configured, or it failed) carries its page's address here instead."""
    max_recalls: int = Field(2, validation_alias="QUEUE_MAX_RECALLS")
    """A called number recalled this many times and still absent is a no-show on the next recall."""
    print_lease_seconds: int = Field(120, validation_alias="PRINT_LEASE_SECONDS")
    """A claimed print job not confirmed within this time may be claimed again (printer worker crashed)."""
    workers: int = Field(1, validation_alias="BACKEND_WORKERS")
    """Sanic worker processes."""
    notifier_enabled: bool = Field(True, validation_alias="NOTIFIER_ENABLED")
    """Send pending WeChat notices from a background task in each worker (off: they wait, pending)."""
    notifier_interval_s: float = Field(1.0, validation_alias="NOTIFIER_INTERVAL_S")
    """Seconds between two passes of the notice sender."""
    sms_sender: str = Field("outbox", validation_alias="SMS_SENDER")
    """SMS_SENDER: how texts to residents (the 代办 consent code) go out; ``outbox``: appended to ``sms_outbox_path``
    and logged with the phone masked (development: no SMS gateway). A gateway's sender is added to `backend.sms`."""
    sms_outbox_path: Path = Field(VAR_DIR / "sms" / "outbox.jsonl", validation_alias="SMS_OUTBOX_PATH")
    """SMS_OUTBOX_PATH: the development sender's JSON-lines file."""
    sms_code_ttl_s: int = Field(600, validation_alias="SMS_CODE_TTL_S")
    """SMS_CODE_TTL_S: seconds a consent code stays valid."""
    uploads_dir: Path = Field(VAR_DIR / "uploads", validation_alias="UPLOADS_DIR")
    """UPLOADS_DIR: photos of materials and signatures, one folder per case number."""
    upload_max_mb: int = Field(8, validation_alias="UPLOAD_MAX_MB")
    """UPLOAD_MAX_MB: largest photo accepted, in MB (1 MB = 1 048 576 bytes)."""
    upload_max_pixels: int = Field(50_000_000, validation_alias="UPLOAD_MAX_PIXELS")
    """UPLOAD_MAX_PIXELS: largest photo accepted, in pixels (width × height; refuses decompression bombs)."""
    environment: str = Field("development", validation_alias="JIUJIN_ENV")
    """JIUJIN_ENV: ``production`` (set by ``make run-prod``) refuses development-only settings such as the SMS
    outbox; ``development`` (``make run``, tests) and ``demo`` (``make run-prod --demo``) allow them."""

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _more_hosts(cls, value: object) -> object:
        """BACKEND_ALLOWED_HOSTS adds to the loopback names."""
        return (*cls.model_fields["allowed_hosts"].default, *_names(value)) if isinstance(value, str) else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _names(value) if isinstance(value, str) else value

    @field_validator("window_departments", mode="before")
    @classmethod
    def _windows(cls, value: object) -> object:
        return _window_departments(value) if isinstance(value, str) else value

    @field_validator("follow_url", "counter_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @field_validator("environment")
    @classmethod
    def _lower_case(cls, name: str) -> str:
        return name.lower()

    @model_validator(mode="after")
    def _refuse_development_settings_in_production(self) -> Settings:
        # The outbox keeps live consent codes and whole phone numbers in a file: never where residents are real.
        if self.environment == "production" and self.sms_sender == "outbox":
            raise ValueError("SMS_SENDER=outbox is refused in production (JIUJIN_ENV=production): configure a gateway")
        return self

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment variables, falling back to the embedded defaults."""
        return cls()
