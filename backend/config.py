"""Backend settings, read once from the environment (see `.env.example` for every variable)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


def _names(name: str) -> tuple[str, ...]:
    """A comma-separated list (hosts, origins), lower-cased, without blanks or trailing slashes."""
    return tuple(p.strip().lower().rstrip("/") for p in os.environ.get(name, "").split(",") if p.strip())


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


@dataclass(frozen=True)
class Settings:
    """Everything the backend can be configured with."""

    database_url: str = f"sqlite:///{VAR_DIR / 'jiujin.db'}"
    """SQLAlchemy URL; ``postgresql://…`` in production. Drivers are chosen by `backend.db`."""
    host: str = "127.0.0.1"
    """Interface the backend listens on."""
    port: int = 8000
    """TCP port of the backend."""
    service_tokens: dict[str, str] | None = None
    """Bearer tokens the internal API accepts, per calling service ({"tools": …, "actions": …}); None: each service
    of `security.tokens.SERVICES` from JIUJIN_<SERVICE>_TOKEN or its file under JIUJIN_SECRETS_DIR, the file made
    (mode 0600) when missing, as the server starts. Tests give them here directly."""
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    """Host headers answered: a name alone allows any port, ``name:port`` that port only; BACKEND_ALLOWED_HOSTS
    (comma-separated) adds to these, FOLLOW_URL's host is allowed as well. Any other Host gets a 421."""
    allowed_origins: tuple[str, ...] = ()
    """BACKEND_ALLOWED_ORIGINS (comma-separated ``scheme://host[:port]``): pages of other origins that may call the
    API from a browser, besides the backend's own origin and FOLLOW_URL's; any other Origin gets a 403."""
    catalog_path: Path = PROJECT_ROOT / "backend" / "catalog" / "items.yml"
    """The catalog data file."""
    auto_migrate: bool = True
    """Apply Alembic migrations when the server starts (safe with several replicas: a lock serialises them)."""
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    """Local time of the centre: decides the service day, case-number dates and deadlines."""
    window_count: int = 6
    """Number of service windows in the hall (windows are numbered 1..window_count)."""
    window_departments: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Windows that serve given departments first (WINDOW_DEPARTMENTS="5=医保,社保;6=公安"); the others serve all."""
    priority_streak_cap: int = 3
    """At most this many 绿色通道 (V) tickets are called in a row while 综合 (A) tickets wait."""
    rasa_url: str = "http://127.0.0.1:5005"
    """RASA_URL: the dialogue, for the voice counter's screen."""
    kiosk_idle_s: float = 90
    """KIOSK_IDLE_S: seconds without a turn after which a resident's session at a counter ends."""
    kiosk_served_s: float = 60
    """KIOSK_SERVED_S: seconds after a filing or a queue number (the bot's answer) when the session ends anyway, so
    the next resident never continues the last one's conversation."""
    follow_secret: str = ""
    """FOLLOW_SECRET: signs the links on receipts to a case's page; empty: one generated once in var/."""
    follow_url: str = "http://127.0.0.1:8000/follow"
    """FOLLOW_URL: the /follow pages as residents' phones reach them; a ticket printed without WeChat's QR code
    (WeChat not configured, or it failed) carries its page's address here instead."""
    max_recalls: int = 2
    """A called number recalled this many times and still absent is a no-show on the next recall."""
    print_lease_seconds: int = 120
    """A claimed print job not confirmed within this time may be claimed again (printer worker crashed)."""
    workers: int = 1
    """Sanic worker processes."""
    notifier_enabled: bool = True
    """Send pending WeChat notices from a background task in each worker (off: they wait, pending)."""
    notifier_interval_s: float = 1.0
    """Seconds between two passes of the notice sender."""
    vosk_model_path: Path | None = None
    """VOSK_MODEL_PATH: the vosk model folder that recognises WeChat voice notes (free recognition, loaded once per
    worker at start-up); None: ``POST /api/v1/speech/recognize`` answers 503."""
    sms_sender: str = "outbox"
    """SMS_SENDER: how texts to residents (the 代办 consent code) go out; ``outbox``: appended to ``sms_outbox_path``
    and logged with the phone masked (development: no SMS gateway). A gateway's sender is added to `backend.sms`."""
    sms_outbox_path: Path = VAR_DIR / "sms" / "outbox.jsonl"
    """SMS_OUTBOX_PATH: the development sender's JSON-lines file."""
    sms_code_ttl_s: int = 600
    """SMS_CODE_TTL_S: seconds a consent code stays valid."""
    uploads_dir: Path = VAR_DIR / "uploads"
    """UPLOADS_DIR: photos of materials and signatures, one folder per case number."""
    upload_max_mb: int = 8
    """UPLOAD_MAX_MB: largest photo accepted, in MB (1 MB = 1 048 576 bytes)."""
    upload_max_pixels: int = 50_000_000
    """UPLOAD_MAX_PIXELS: largest photo accepted, in pixels (width × height; refuses decompression bombs)."""
    environment: str = "development"
    """JIUJIN_ENV: ``production`` (set by ``make run-prod``) refuses development-only settings such as the SMS
    outbox; ``development`` (``make run``, tests) and ``demo`` (``make run-prod --demo``) allow them."""

    def __post_init__(self) -> None:
        # The outbox keeps live consent codes and whole phone numbers in a file: never where residents are real.
        if self.environment == "production" and self.sms_sender == "outbox":
            raise ValueError("SMS_SENDER=outbox is refused in production (JIUJIN_ENV=production): configure a gateway")

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from environment variables, falling back to the embedded defaults."""
        defaults = cls()
        return cls(
            database_url=os.environ.get("DATABASE_URL") or defaults.database_url,
            host=os.environ.get("BACKEND_HOST") or defaults.host,
            port=_int("BACKEND_PORT", defaults.port),
            allowed_hosts=defaults.allowed_hosts + _names("BACKEND_ALLOWED_HOSTS"),
            allowed_origins=_names("BACKEND_ALLOWED_ORIGINS"),
            catalog_path=Path(os.environ.get("CATALOG_PATH") or defaults.catalog_path),
            auto_migrate=_bool("DB_AUTO_MIGRATE", defaults.auto_migrate),
            timezone=ZoneInfo(os.environ.get("CENTRE_TIMEZONE") or "Asia/Shanghai"),
            window_count=_int("WINDOW_COUNT", defaults.window_count),
            window_departments=_window_departments(os.environ.get("WINDOW_DEPARTMENTS", "")),
            priority_streak_cap=_int("QUEUE_PRIORITY_STREAK_CAP", defaults.priority_streak_cap),
            print_lease_seconds=_int("PRINT_LEASE_SECONDS", defaults.print_lease_seconds),
            max_recalls=_int("QUEUE_MAX_RECALLS", defaults.max_recalls),
            follow_secret=os.environ.get("FOLLOW_SECRET", "").strip(),
            follow_url=(os.environ.get("FOLLOW_URL", "").strip() or defaults.follow_url).rstrip("/"),
            rasa_url=os.environ.get("RASA_URL", "").strip() or defaults.rasa_url,
            kiosk_idle_s=_float("KIOSK_IDLE_S", defaults.kiosk_idle_s),
            kiosk_served_s=_float("KIOSK_SERVED_S", defaults.kiosk_served_s),
            workers=_int("BACKEND_WORKERS", defaults.workers),
            notifier_enabled=_bool("NOTIFIER_ENABLED", defaults.notifier_enabled),
            notifier_interval_s=_float("NOTIFIER_INTERVAL_S", defaults.notifier_interval_s),
            vosk_model_path=Path(raw) if (raw := os.environ.get("VOSK_MODEL_PATH", "").strip()) else None,
            sms_sender=os.environ.get("SMS_SENDER", "").strip() or defaults.sms_sender,
            sms_outbox_path=Path(os.environ.get("SMS_OUTBOX_PATH") or defaults.sms_outbox_path),
            sms_code_ttl_s=_int("SMS_CODE_TTL_S", defaults.sms_code_ttl_s),
            uploads_dir=Path(os.environ.get("UPLOADS_DIR") or defaults.uploads_dir),
            upload_max_mb=_int("UPLOAD_MAX_MB", defaults.upload_max_mb),
            upload_max_pixels=_int("UPLOAD_MAX_PIXELS", defaults.upload_max_pixels),
            environment=os.environ.get("JIUJIN_ENV", "").strip().lower() or defaults.environment,
        )
