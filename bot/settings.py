"""Settings: environment variables prefixed ``COURRIER_`` and an optional ``.env`` file."""

from __future__ import annotations

import base64
import binascii
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


def _decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("each key must be base64 text") from exc
    if len(key) != 32:
        raise ValueError(f"each key must decode to 32 bytes (256 bits), got {len(key)}")
    return key


class Settings(BaseSettings):
    """Every setting Courrier reads; names are a contract with deployments."""

    model_config = SettingsConfigDict(
        env_prefix="COURRIER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Core
    database_url: str = "sqlite:///var/courrier.db"
    secret_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    secret_keys_file: Path | None = None
    public_url: str = "http://127.0.0.1:8000"
    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"
    organization_name: str = "Mon entreprise"
    log_level: str = "INFO"
    templates_dir: Path = REPO_ROOT / "templates"
    sandbox: bool | None = None  # None: on exactly when no WhatsApp token is set
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    lease_seconds: int = Field(default=120, ge=5, le=3600)  # how long a claimed message is held before another process may take it
    run_worker: bool = True  # off for web processes that only acknowledge (distributed mode, benchmarks)

    # WhatsApp Cloud API
    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "23.0"
    whatsapp_digest_template: str | None = None
    whatsapp_template_language: str = "fr"

    # Mailboxes (Google, Microsoft, IMAP)
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_url: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    gmail_api_url: str = "https://gmail.googleapis.com/"
    ms_client_id: str | None = None
    ms_client_secret: str | None = None
    ms_tenant: str = "common"
    ms_authority_url: str = "https://login.microsoftonline.com"
    graph_api_url: str = "https://graph.microsoft.com/v1.0"
    sync_initial_days: int = Field(default=7, ge=1, le=365)

    # Triage
    triage: Literal["offline", "gemini"] = "offline"
    gemini_api_key: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_api_url: str | None = None  # the SDK's base URL: a gateway or a local fake instead of Google
    gemini_timeout: float = Field(default=20.0, gt=0, le=300)  # seconds per request before falling back offline

    # Quotes and contracts
    quote_draft_hours: int = Field(default=72, ge=1, le=24 * 30)

    # Invoice mailings: per-provider limit overrides as JSON, e.g.
    # '{"gmail": {"units_per_minute": 15000, "daily_messages": 2000}, "imap": {"units_per_minute": 60}}'
    invoice_rate_limits: dict[str, dict[str, float]] = Field(default_factory=dict)
    invoice_lease_seconds: int = Field(default=60, ge=1, le=3600)  # a dead runner's batch is taken over after this
    invoice_retry_base: float = Field(default=5.0, gt=0, le=60)  # first backoff, doubling, at most 60 s
    invoice_upload_dir: Path = Path("var/invoices")  # batches uploaded through the API

    # Scale-out
    broker_url: str | None = None

    # Contact form, invitations and client accounts
    contact_rate_limit: int = Field(default=5, ge=1, le=1000)  # accepted messages per IP per hour
    signup_guess_limit: int = Field(default=10, ge=1, le=10000)  # invalid signup links per IP per hour
    login_rate_limit: int = Field(default=10, ge=1, le=10000)  # failed sign-ins per IP (and per address) per 15 min
    client_session_days: int = Field(default=14, ge=1, le=365)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)  # Argon2id parameters
    password_hash_memory_kib: int = Field(default=65536, ge=8, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)
    common_passwords_file: Path = REPO_ROOT / "data" / "common-passwords.txt.gz"

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("secret_keys")
    @classmethod
    def _check_keys(cls, value: list[str]) -> list[str]:
        for item in value:
            _decode_key(item)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Paris, Africa/Abidjan)") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("public_url", "whatsapp_api_url", "graph_api_url", "ms_authority_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("gemini_api_url")
    @classmethod
    def _check_gemini_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL (the Gemini API or a gateway in front of it)")
        return value.strip()

    @model_validator(mode="after")
    def _check_triage(self) -> Settings:
        if self.triage == "gemini" and not (self.gemini_api_key or "").strip():
            raise ValueError(
                "COURRIER_GEMINI_API_KEY is required when COURRIER_TRIAGE=gemini "
                "(or set COURRIER_TRIAGE=offline to use the embedded classifier)"
            )
        return self

    @model_validator(mode="after")
    def _check_whatsapp(self) -> Settings:
        if self.whatsapp_token:
            missing = [
                f"COURRIER_{name.upper()}"
                for name in ("whatsapp_phone_number_id", "whatsapp_app_secret", "whatsapp_verify_token")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} required when COURRIER_WHATSAPP_TOKEN is set")
        return self

    @property
    def sandbox_enabled(self) -> bool:
        """True when outbound messages go to the local sandbox instead of Meta."""
        return self.sandbox if self.sandbox is not None else not self.whatsapp_token

    def key_bytes(self) -> list[bytes]:
        """The decoded secret keys, the encrypting one first."""
        keys = list(self.secret_keys)
        if not keys and self.secret_keys_file and self.secret_keys_file.exists():
            text = self.secret_keys_file.read_text().strip()
            keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
        return [_decode_key(k) for k in keys]


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one readable SettingsError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = f"COURRIER_{field.upper()}" if field else "configuration"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(lines)) from None
    except ValueError as exc:
        raise SettingsError(f"Invalid configuration: {exc}") from None
