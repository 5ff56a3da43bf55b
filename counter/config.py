"""The counter service's settings, from the environment (pydantic-settings): where it listens, where the dialogue,
the backend and the speech model are, and how long a resident's session lasts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from security.tokens import internal_api_url


class CounterSettings(BaseSettings):
    """Every setting of ``python -m counter``; each field names its environment variable."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True)

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("COUNTER_HOST", "host"))
    """COUNTER_HOST: the interface the service listens on (the counter's screen reaches it there, or through nginx)."""
    port: int = Field(5090, ge=0, le=65535, validation_alias=AliasChoices("COUNTER_PORT", "port"))
    """COUNTER_PORT: its TCP port."""
    rasa_url: str = Field("http://127.0.0.1:5005", validation_alias=AliasChoices("RASA_URL", "rasa_url"))
    """RASA_URL: the dialogue (Rasa's REST channel)."""
    backend_url: str = Field(
        default_factory=internal_api_url, validation_alias=AliasChoices("BACKEND_URL", "backend_url")
    )
    """BACKEND_URL (else ``http://127.0.0.1:$BACKEND_PORT``): the backend's internal API, which checks the counters'
    credentials and records their residents' sessions."""
    vosk_model_path: Path | None = Field(None, validation_alias=AliasChoices("VOSK_MODEL_PATH", "vosk_model_path"))
    """VOSK_MODEL_PATH: the vosk model folder for speech recognition (loaded once, when the service starts); None:
    ``POST /speech/recognize`` answers 503."""
    idle_s: float = Field(90, gt=0, validation_alias=AliasChoices("KIOSK_IDLE_S", "idle_s"))
    """KIOSK_IDLE_S: seconds without a turn after which a resident's session at a counter ends."""
    served_s: float = Field(60, gt=0, validation_alias=AliasChoices("KIOSK_SERVED_S", "served_s"))
    """KIOSK_SERVED_S: seconds after a filing or a queue number (the bot's answer) when the session ends anyway, so
    the next resident never continues the last one's conversation."""
    rasa_timeout_s: float = Field(30, gt=0, validation_alias=AliasChoices("COUNTER_RASA_TIMEOUT_S", "rasa_timeout_s"))
    """COUNTER_RASA_TIMEOUT_S: seconds a turn waits for the bot before the counter apologises."""

    @field_validator("rasa_url", "backend_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {url!r}")
        return url.rstrip("/")

    @field_validator("vosk_model_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class MicrophoneSettings(BaseSettings):
    """Every setting of ``bin/jiujin counter`` at the microphone; each field names its environment variable."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True)

    counter_url: str = Field("http://127.0.0.1:5090", validation_alias=AliasChoices("COUNTER_URL", "counter_url"))
    """COUNTER_URL: the counter service this microphone's counter belongs to."""
    counter: str = Field("counter-1", validation_alias=AliasChoices("VOICE_COUNTER", "counter"))
    """VOICE_COUNTER: the counter this is (``bin/jiujin kiosk add NAME``)."""
    mode: Literal["hands-free", "push-to-talk"] = Field(
        "hands-free", validation_alias=AliasChoices("VOICE_MODE", "mode")
    )
    """VOICE_MODE: hands-free (the end of speech ends an utterance) or push-to-talk (a button starts and ends it)."""
    input_device: str | None = Field(None, validation_alias=AliasChoices("VOICE_INPUT_DEVICE", "input_device"))
    """VOICE_INPUT_DEVICE: the microphone's PortAudio name; None: the system's default."""
    output_device: str | None = Field(None, validation_alias=AliasChoices("VOICE_OUTPUT_DEVICE", "output_device"))
    """VOICE_OUTPUT_DEVICE: the loudspeaker's PortAudio name; None: the system's default."""
    barge_in_rms: float = Field(500, gt=0, validation_alias=AliasChoices("VOICE_BARGE_IN_RMS", "barge_in_rms"))
    """VOICE_BARGE_IN_RMS: loudness (RMS of 16-bit samples) speech over an answer must reach to stop it."""

    @field_validator("counter_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {url!r}")
        return url.rstrip("/")

    @field_validator("input_device", "output_device", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
